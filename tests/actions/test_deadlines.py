from datetime import UTC, datetime, time, timedelta

import pytest

from accounts.models import Organisation
from actions import deadlines


def london(**kw):
    return Organisation(name="A", slug="a", timezone="Europe/London", **kw)


def utc(*args):
    return datetime(*args, tzinfo=UTC)


def test_it_adds_working_days_within_a_week():
    assert deadlines.add_working_days(utc(2026, 1, 14, 10), 2, london()) == utc(2026, 1, 16, 10)


def test_it_skips_the_weekend_for_working_days():
    # Friday 15:00 plus two working days is Tuesday 15:00.
    assert deadlines.add_working_days(utc(2026, 1, 16, 15), 2, london()) == utc(2026, 1, 20, 15)


def test_it_counts_working_hours_from_monday_when_started_on_saturday():
    assert deadlines.add_working_hours(utc(2026, 1, 17, 12), 2, london()) == utc(2026, 1, 19, 11)


def test_it_carries_working_hours_over_the_weekend():
    # Friday 16:00 leaves 1.5 h before 17:30; the other 1.5 h are Monday from 09:00.
    result = deadlines.add_working_hours(utc(2026, 1, 16, 16), 3, london())
    assert result == utc(2026, 1, 19, 10, 30)


def test_it_starts_after_hours_feedback_at_the_next_opening():
    assert deadlines.add_working_hours(utc(2026, 1, 16, 18), 1, london()) == utc(2026, 1, 19, 10)
    assert deadlines.add_working_time(utc(2026, 1, 16, 18), timedelta(0), london()) == utc(
        2026, 1, 19, 9
    )


def test_it_keeps_wall_time_across_the_spring_dst_change():
    # Friday 27 March 2026 15:00 GMT; clocks go forward on Sunday 29 March; Tuesday 15:00 is
    # BST, which is 14:00 UTC.
    assert deadlines.add_working_days(utc(2026, 3, 27, 15), 2, london()) == utc(2026, 3, 31, 14)


def test_it_keeps_wall_time_across_the_autumn_dst_change():
    # Friday 23 October 2026 15:00 BST (14:00 UTC); clocks go back on Sunday 25 October.
    assert deadlines.add_working_days(utc(2026, 10, 23, 14), 2, london()) == utc(2026, 10, 27, 15)


def test_it_counts_hours_on_a_dst_sunday_for_a_weekend_business():
    org = london(working_days=[5, 6])
    # Saturday 28 March 17:00 GMT + 1 working hour = Sunday 29 March 09:30 BST = 08:30 UTC.
    assert deadlines.add_working_hours(utc(2026, 3, 28, 17), 1, org) == utc(2026, 3, 29, 8, 30)


def test_it_uses_the_organisations_timezone_and_hours():
    org = Organisation(
        name="B", slug="b", timezone="America/New_York", work_starts=time(8), work_ends=time(16)
    )
    # Thursday 20:00 UTC is 15:00 in New York: one hour left today, one tomorrow from 08:00.
    assert deadlines.add_working_hours(utc(2026, 1, 15, 20), 2, org) == utc(2026, 1, 16, 14)


def test_it_honours_a_sunday_to_thursday_week():
    org = london(working_days=[6, 0, 1, 2, 3])
    # Thursday 15:00 plus one working day is Sunday 15:00.
    assert deadlines.add_working_days(utc(2026, 1, 15, 15), 1, org) == utc(2026, 1, 18, 15)


def test_it_escalates_one_working_day_after_the_deadline():
    assert deadlines.escalation_time(utc(2026, 1, 16, 15), london()) == utc(2026, 1, 19, 15)


@pytest.mark.parametrize(
    ("due_in", "expected"),
    [
        (timedelta(hours=48), timedelta(hours=24)),
        (timedelta(hours=10), timedelta(hours=5)),
        (timedelta(minutes=20), None),
    ],
)
def test_it_reminds_a_day_ahead_or_halfway_when_closer(due_in, expected):
    now = utc(2026, 1, 14, 10)
    result = deadlines.reminder_time(now=now, due_at=now + due_in, lead=timedelta(hours=24))
    assert result == (None if expected is None else now + expected)


def test_it_knows_when_the_working_day_has_started():
    org = london()
    assert not deadlines.has_started_work(utc(2026, 1, 14, 8, 59), org)
    assert deadlines.has_started_work(utc(2026, 1, 14, 9, 0), org)
    assert not deadlines.has_started_work(utc(2026, 1, 17, 10), org)  # Saturday
    # In summer London opens at 08:00 UTC.
    assert deadlines.has_started_work(utc(2026, 6, 10, 8, 0), org)
