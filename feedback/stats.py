"""The figures Heard shows: promises kept on time, how long loops take to close, and the
window every figure is counted over. Read-only; every function takes ``now`` from its caller."""

import operator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import reduce
from statistics import median

from django.db import connection
from django.db.models import Aggregate, Count, DurationField, F, Q, QuerySet
from django.utils.translation import gettext_noop

from actions.models import Action, Promise

# Both are shown through the catalogues ({% translate promises_sentence %}); the first is on
# the public wall, so it is translated in every shipped language.
PROMISES_KEPT_SENTENCE = gettext_noop(
    "A promise is kept when an action is done by the first deadline it was given: moving a "
    "deadline does not keep a promise. Every action whose first deadline fell or that closed "
    "in this period counts; one done late, closed as \u201cwon\u2019t do\u201d, or still open "
    "past that deadline counts as not kept. Time spent waiting on the customer does not count "
    "against it."
)
IN_FORCE_SENTENCE = gettext_noop(
    "Kept against the deadline in force: done by the deadline as it stood when the action "
    "closed, moved or not. For your team only; the public wall shows only the first promise."
)


@dataclass(frozen=True)
class Window:
    """A period of whole local days ending now: ``days`` days including today."""

    days: int
    start: datetime
    end: datetime
    first_day: date
    today: date


def window_for(org, days: int, now: datetime) -> Window:
    """The last ``days`` local days of the organisation, today included."""
    tz = org.tz
    today = now.astimezone(tz).date()
    first_day = today - timedelta(days=days - 1)
    return Window(
        days=days, start=local_midnight(first_day, tz), end=now, first_day=first_day, today=today
    )


def local_midnight(day: date, tz) -> datetime:
    return datetime.combine(day, time.min, tzinfo=tz)


@dataclass(frozen=True)
class PromisesKept:
    kept: int
    total: int

    @property
    def percent(self) -> int | None:
        """Whole percent, rounded down so 99.6% never shows as 100%; None when nothing
        was due."""
        return (self.kept * 100) // self.total if self.total else None

    @property
    def broken(self) -> int:
        return self.total - self.kept


@dataclass(frozen=True)
class Outcomes:
    """What customers answered to "Did this sort it out?", once per action told."""

    told: int = 0
    confirmed: int = 0
    not_sorted: int = 0

    @property
    def no_answer(self) -> int:
        return self.told - self.confirmed - self.not_sorted


def promises_kept(
    actions: QuerySet, start: datetime, end: datetime, against: str = Promise.FIRST
) -> PromisesKept:
    """Promises kept on time among ``actions`` for [start, end). Which actions count and
    which are kept are ``ActionQuerySet.promise_counts``'s rules (PROMISES_KEPT_SENTENCE says
    the same in plain words)."""
    kept, total = actions.promise_counts(start, end, against)
    return PromisesKept(kept=kept, total=total)


class Median(Aggregate):
    """PostgreSQL's exact median (``percentile_cont``) of a duration."""

    function = "PERCENTILE_CONT"
    name = "Median"
    template = "%(function)s(0.5) WITHIN GROUP (ORDER BY %(expressions)s)%(filter)s"
    output_field = DurationField()


def median_durations(qs: QuerySet, **durations) -> dict[str, timedelta | None]:
    """Median of each named duration expression over ``qs``, in one query.

    ``durations`` maps a name to ``(expression, filter Q)``. PostgreSQL computes the medians;
    elsewhere (SQLite in development) the values are fetched and the median taken in Python.
    """
    if connection.vendor == "postgresql":
        return qs.aggregate(
            **{name: Median(expr, filter=cond) for name, (expr, cond) in durations.items()}
        )
    qs = qs.filter(reduce(operator.or_, (cond for _, cond in durations.values())))
    values = {name: [] for name in durations}
    annotations = {f"_{name}": expr for name, (expr, _) in durations.items()}
    flags = {f"_{name}_in": Count("pk", filter=cond) for name, (_, cond) in durations.items()}
    rows = qs.annotate(**annotations).values("pk", *annotations).annotate(**flags)
    for row in rows:
        for name in durations:
            if row[f"_{name}_in"] and row[f"_{name}"] is not None:
                values[name].append(row[f"_{name}"])
    return {name: median(found) if found else None for name, found in values.items()}


def in_period(start: datetime, end: datetime, deadline: str = Promise.IN_FORCE) -> Q:
    """Actions closed or due (by ``deadline``, the one in force unless told) in [start, end):
    what the period's action figures look at.

    Naming every status looks redundant but lets PostgreSQL read the due-date arm from the
    ``action_org_status_due`` index (org, status, due_at) instead of scanning the table; the
    closed arm uses ``action_org_closed``."""
    return Q(closed_at__gte=start, closed_at__lt=end) | Q(
        status__in=Action.ALL_STATUSES, **{f"{deadline}__gte": start, f"{deadline}__lt": end}
    )


def loop_durations(start: datetime, end: datetime) -> dict:
    """Arguments for ``median_durations``: time from opening to the first reply, over actions
    closed or due in the period; and to the closed loop (done or won't do), over actions
    closed in the period."""
    return {
        "first_reply": (
            F("first_reply_at") - F("created_at"),
            in_period(start, end) & Q(first_reply_at__isnull=False),
        ),
        "closed_loop": (
            F("closed_at") - F("created_at"),
            Q(
                status__in=Action.CLOSED_STATUSES,
                closed_at__gte=start,
                closed_at__lt=end,
            ),
        ),
    }
