from datetime import UTC, datetime, time, timedelta

import pytest
import time_machine
from django.core import mail

from surveys.ingest import InteractionInput
from surveys.models import Invitation
from surveys.sending import invitations_send_due
from surveys.services import interaction_record, quiet_hours_move
from tests.factories import make_customer


def utc(*args):
    return datetime(*args, tzinfo=UTC)


def test_it_leaves_a_time_outside_quiet_hours_alone(org):
    when = utc(2026, 3, 10, 12, 0)  # 12:00 in London in March (GMT)
    assert quiet_hours_move(org=org, when=when) == when


def test_it_moves_an_evening_time_to_the_next_morning(org):
    when = utc(2026, 3, 10, 22, 30)  # 22:30 London
    assert quiet_hours_move(org=org, when=when) == utc(2026, 3, 11, 8, 0)


def test_it_moves_an_early_morning_time_to_eight_the_same_day(org):
    when = utc(2026, 3, 10, 5, 0)
    assert quiet_hours_move(org=org, when=when) == utc(2026, 3, 10, 8, 0)


def test_it_uses_the_organisations_wall_clock_across_dst(org):
    # London springs forward on 29 March 2026: 08:00 local is 07:00 UTC after the change.
    when = utc(2026, 3, 28, 23, 0)  # 23:00 GMT, quiet
    assert quiet_hours_move(org=org, when=when) == utc(2026, 3, 29, 7, 0)


def test_it_handles_quiet_hours_within_one_day(org):
    org.quiet_starts, org.quiet_ends = time(12, 0), time(14, 0)
    assert quiet_hours_move(org=org, when=utc(2026, 1, 5, 13, 0)) == utc(2026, 1, 5, 14, 0)
    assert quiet_hours_move(org=org, when=utc(2026, 1, 5, 15, 0)) == utc(2026, 1, 5, 15, 0)


def test_equal_start_and_end_mean_no_quiet_hours(org):
    org.quiet_starts = org.quiet_ends = time(0, 0)
    assert quiet_hours_move(org=org, when=utc(2026, 1, 5, 3, 0)) == utc(2026, 1, 5, 3, 0)


def _record(org, touchpoint, email, occurred_at, now):
    customer_item = InteractionInput(email=email, touchpoint=touchpoint, occurred_at=occurred_at)
    interaction, _ = interaction_record(org=org, item=customer_item, source="api", now=now)
    return interaction.invitation


def test_an_interaction_in_the_evening_is_asked_about_the_next_morning(org, touchpoint):
    occurred = utc(2026, 3, 10, 20, 30)  # + 60 min delay = 21:30, quiet
    with time_machine.travel(occurred, tick=False):
        invitation = _record(org, touchpoint, "pat@example.com", occurred, occurred)
    assert invitation.due_at == utc(2026, 3, 11, 8, 0)
    with time_machine.travel(utc(2026, 3, 11, 7, 59), tick=False):
        assert invitations_send_due(now=utc(2026, 3, 11, 7, 59)) == 0
    assert len(mail.outbox) == 0
    with time_machine.travel(utc(2026, 3, 11, 8, 0), tick=False):
        assert invitations_send_due(now=utc(2026, 3, 11, 8, 0)) == 1
    assert len(mail.outbox) == 1


def test_a_customer_surveyed_recently_is_not_asked_again(org, touchpoint):
    org.survey_reminder_days = 0
    org.save()
    start = utc(2026, 4, 1, 10, 0)
    first = _record(org, touchpoint, "pat@example.com", start, start)
    invitations_send_due(now=start + timedelta(hours=2))
    second = _record(org, touchpoint, "pat@example.com", start + timedelta(days=5), start)
    invitations_send_due(now=start + timedelta(days=5, hours=2))
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.status == Invitation.Status.SENT
    assert second.status == Invitation.Status.SKIPPED
    assert second.skip_reason == Invitation.SkipReason.FATIGUE
    # After the fatigue window (30 days), they are asked again.
    third = _record(org, touchpoint, "pat@example.com", start + timedelta(days=31), start)
    invitations_send_due(now=start + timedelta(days=31, hours=2))
    third.refresh_from_db()
    assert third.status == Invitation.Status.SENT
    assert len(mail.outbox) == 2


def test_two_interactions_in_one_sweep_send_one_email(org, touchpoint):
    start = utc(2026, 4, 1, 10, 0)
    _record(org, touchpoint, "pat@example.com", start, start)
    _record(org, touchpoint, "pat@example.com", start + timedelta(minutes=5), start)
    assert invitations_send_due(now=start + timedelta(hours=3)) == 1
    reasons = sorted(Invitation.objects.values_list("status", "skip_reason"))
    assert reasons == [("sent", ""), ("skipped", "fatigue")]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"opted_out_at": utc(2026, 1, 1)}, "opted_out"),
        ({"bounced_at": utc(2026, 1, 1)}, "bounced"),
        ({"survey_hold": True}, "open_action"),
    ],
)
def test_it_records_why_an_invitation_was_not_sent(org, touchpoint, change, reason):
    customer = make_customer(org, email="pat@example.com")
    for name, value in change.items():
        setattr(customer, name, value)
    customer.save()
    start = utc(2026, 4, 1, 10, 0)
    invitation = _record(org, touchpoint, "pat@example.com", start, start)
    assert invitations_send_due(now=start + timedelta(hours=2)) == 0
    invitation.refresh_from_db()
    assert (invitation.status, invitation.skip_reason) == ("skipped", reason)
    assert mail.outbox == []


def test_a_touchpoint_without_an_active_survey_sends_nothing(org, touchpoint):
    touchpoint.survey.active = False
    touchpoint.survey.save()
    start = utc(2026, 4, 1, 10, 0)
    invitation = _record(org, touchpoint, "pat@example.com", start, start)
    invitations_send_due(now=start + timedelta(hours=2))
    invitation.refresh_from_db()
    assert invitation.skip_reason == Invitation.SkipReason.NO_SURVEY


def test_an_invitation_not_sent_in_time_expires(org, touchpoint):
    start = utc(2026, 4, 1, 10, 0)
    invitation = _record(org, touchpoint, "pat@example.com", start, start)
    invitations_send_due(now=start + timedelta(days=40))
    invitation.refresh_from_db()
    assert invitation.skip_reason == Invitation.SkipReason.EXPIRED


def test_it_reminds_once_after_the_reminder_days_unless_answered(org, touchpoint):
    start = utc(2026, 4, 1, 10, 0)
    asked = _record(org, touchpoint, "pat@example.com", start, start)
    answered = _record(org, touchpoint, "sam@example.com", start, start)
    invitations_send_due(now=start + timedelta(hours=2))
    from tests.factories import make_response

    answered.refresh_from_db()
    make_response(answered, {0: True})
    assert len(mail.outbox) == 2
    invitations_send_due(now=start + timedelta(days=2))
    assert len(mail.outbox) == 2
    invitations_send_due(now=start + timedelta(days=3, hours=3))
    invitations_send_due(now=start + timedelta(days=4))
    assert len(mail.outbox) == 3
    assert mail.outbox[2].to == ["pat@example.com"]
    assert "will not ask again" in mail.outbox[2].body
    asked.refresh_from_db()
    assert asked.reminded_at is not None


def test_a_reminder_keeps_the_quiet_hours_across_the_autumn_clock_change(org, touchpoint):
    # Sent 07:30 UTC = 08:30 BST on Thursday 22 October 2026; London falls back early on
    # Sunday 25th, so three days later 07:30 UTC is 07:30 GMT: quiet until 08:00 GMT.
    start = utc(2026, 10, 22, 6, 30)
    invitation = _record(org, touchpoint, "pat@example.com", start, start)
    sent_at = utc(2026, 10, 22, 7, 30)
    assert invitations_send_due(now=sent_at) == 1
    invitation.refresh_from_db()
    assert invitation.reminder_due_at == utc(2026, 10, 25, 8, 0)
    assert invitations_send_due(now=utc(2026, 10, 25, 7, 30)) == 0
    assert len(mail.outbox) == 1
    assert invitations_send_due(now=utc(2026, 10, 25, 8, 0)) == 1
    assert len(mail.outbox) == 2


def test_reminders_can_be_turned_off(org, touchpoint):
    org.survey_reminder_days = 0
    org.save()
    start = utc(2026, 4, 1, 10, 0)
    _record(org, touchpoint, "pat@example.com", start, start)
    invitations_send_due(now=start + timedelta(hours=2))
    invitations_send_due(now=start + timedelta(days=10))
    assert len(mail.outbox) == 1
