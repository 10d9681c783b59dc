"""Working-time arithmetic: "due in 2 working days" in the organisation's own week.

Everything is computed in the organisation's local wall time (its timezone, working days and
working hours), then converted back to UTC. Arithmetic on aware datetimes that share one
``ZoneInfo`` is wall-clock arithmetic in Python, so a working day that spans a DST change is
still "09:00 to 17:30" and the UTC result moves by the hour the clocks did.
"""

from datetime import UTC, date, datetime, time, timedelta

DEFAULT_WORKING_DAYS = (0, 1, 2, 3, 4)
# A calendar with no working days at all is a misconfiguration; never loop forever over it.
_MAX_DAYS_SCANNED = 3660


def _working_days(org) -> set[int]:
    days = {int(d) for d in (org.working_days or []) if 0 <= int(d) <= 6}
    return days or set(DEFAULT_WORKING_DAYS)


def _at(day: date, moment: time, tz) -> datetime:
    return datetime.combine(day, moment, tzinfo=tz)


def working_day_length(org) -> timedelta:
    """The length of one working day, in wall-clock time."""
    return datetime.combine(date.min, org.work_ends) - datetime.combine(date.min, org.work_starts)


def add_working_time(start: datetime, amount: timedelta, org) -> datetime:
    """Return the moment ``amount`` of working time after ``start`` (UTC).

    Time outside working hours doesn't count: a start on Saturday counts from Monday's opening.
    An ``amount`` of zero gives the next moment the business is working.
    """
    tz = org.tz
    days = _working_days(org)
    local = start.astimezone(tz)
    remaining = max(amount, timedelta(0))
    day, cursor = local.date(), local
    for _ in range(_MAX_DAYS_SCANNED):
        if day.weekday() in days:
            opens, closes = _at(day, org.work_starts, tz), _at(day, org.work_ends, tz)
            begin = max(cursor, opens)
            if begin < closes:
                available = closes - begin
                if remaining <= available:
                    return (begin + remaining).astimezone(UTC)
                remaining -= available
        day += timedelta(days=1)
        cursor = _at(day, time.min, tz)
    raise ValueError("The organisation's calendar has no working time.")


def add_working_hours(start: datetime, hours: float, org) -> datetime:
    return add_working_time(start, timedelta(hours=hours), org)


def add_working_days(start: datetime, days: int, org) -> datetime:
    """``days`` whole working days later: Friday 15:00 plus 2 is Tuesday 15:00."""
    return add_working_time(start, working_day_length(org) * days, org)


def deadline_for(start: datetime, *, amount: int, unit: str, org) -> datetime:
    if unit == "working_hours":
        return add_working_hours(start, amount, org)
    return add_working_days(start, amount, org)


def reminder_time(*, now: datetime, due_at: datetime, lead: timedelta) -> datetime | None:
    """When to remind the owner: ``lead`` before the deadline or, when the deadline is nearer
    than that, halfway there. None when there is no time left to remind in."""
    if due_at - lead > now:
        return due_at - lead
    if due_at - now > timedelta(minutes=30):
        return now + (due_at - now) / 2
    return None


def escalation_time(due_at: datetime, org) -> datetime:
    """One working day after the deadline, counted from the deadline's own moment."""
    return add_working_days(due_at, 1, org)


def local_day(moment: datetime, org) -> date:
    return moment.astimezone(org.tz).date()


def has_started_work(moment: datetime, org) -> bool:
    """True on a working day once the business has opened (local time)."""
    local = moment.astimezone(org.tz)
    return local.weekday() in _working_days(org) and local.time() >= org.work_starts
