"""Daily roll-ups of survey traffic: what keeps the dashboard fast over a million responses.

Traffic and answers up to ``RollupState.traffic_until`` (the last sweep, today so far included)
are read from ``DailyRollup``/``AnswerRollup``; what came in since is counted live from the same
functions that write the roll-ups. So the figures are the same with or without roll-ups, as of
the last sweep; a sweep that has not run only makes the page slower. The ``refresh_rollups``
sweep recomputes the last few days on every run, because invitations created on one day are
sent on the next and customers may change answers: such a change to a day already rolled up
shows after the next sweep. Actions have their own roll-up (``ActionRollup``), by local day.
"""

from collections import defaultdict
from datetime import date, datetime, timedelta

from django.db import transaction
from django.db.models import (
    BooleanField,
    Count,
    Exists,
    ExpressionWrapper,
    F,
    Max,
    Min,
    OuterRef,
    Q,
    Subquery,
    Sum,
)
from django.db.models.functions import TruncDate

from actions.models import Action, ActionResponse, Kind, Promise
from surveys.models import Answer, Invitation, Question, Response

from .models import ActionRollup, AnswerRollup, DailyRollup, RollupState
from .stats import in_period, local_midnight

REDO_DAYS = 7
#: Days of action roll-ups each refresh rewrites: more than the longest window (90 days), so
#: a window stays covered for a few days even if the sweep stops.
ACTION_DAYS = 95
MAX_BACKFILL_DAYS = 400
TRAFFIC_FIELDS = ("invitations", "invitations_sent", "responses", "problem_responses", "with_words")


def problem_expression():
    """(condition, annotations it needs): true for a response that raised a problem: a "No",
    a rating of 2 or less, or an action of kind "problem" opened from it or linked to it."""
    negative = Answer.objects.filter(response=OuterRef("pk")).negative()
    # LIMIT 1 subqueries rather than EXISTS: PostgreSQL would hash every problem action of
    # every business for an EXISTS; these look up the few rows of each response by index.
    problem_action = Subquery(
        Action.objects.filter(response=OuterRef("pk"), kind=Kind.PROBLEM).values("pk")[:1]
    )
    problem_link = Subquery(
        ActionResponse.objects.filter(response=OuterRef("pk"), action__kind=Kind.PROBLEM).values(
            "pk"
        )[:1]
    )
    return (Exists(negative) | Q(_problem_action__isnull=False) | Q(_problem_link__isnull=False)), {
        "_problem_action": problem_action,
        "_problem_link": problem_link,
    }


def traffic_rows(org, start: datetime, end: datetime, touchpoint=None) -> list[dict]:
    """Per (local day, touchpoint): invitations created and sent, responses submitted, how
    many raised a problem and how many had words. Two queries."""
    tz = org.tz
    rows: dict = defaultdict(lambda: dict.fromkeys(TRAFFIC_FIELDS, 0))
    responses = Response.objects.filter(org=org, submitted_at__gte=start, submitted_at__lt=end)
    invitations = Invitation.objects.filter(org=org, created_at__gte=start, created_at__lt=end)
    if touchpoint is not None:
        responses = responses.filter(invitation__interaction__touchpoint=touchpoint)
        invitations = invitations.filter(interaction__touchpoint=touchpoint)
    problem, problem_parts = problem_expression()
    for row in (
        responses.annotate(**problem_parts)
        .annotate(
            day=TruncDate("submitted_at", tzinfo=tz),
            tp=F("invitation__interaction__touchpoint_id"),
            problem=ExpressionWrapper(problem, output_field=BooleanField()),
        )
        .values("day", "tp")
        .annotate(
            n=Count("pk"),
            problems=Count("pk", filter=Q(problem=True)),
            words=Count("pk", filter=~Q(verbatim="")),
        )
    ):
        target = rows[(row["day"], row["tp"])]
        target.update(
            responses=row["n"], problem_responses=row["problems"], with_words=row["words"]
        )
    for row in (
        invitations.annotate(
            day=TruncDate("created_at", tzinfo=tz), tp=F("interaction__touchpoint_id")
        )
        .values("day", "tp")
        .annotate(n=Count("pk"), sent=Count("pk", filter=Q(sent_at__isnull=False)))
    ):
        rows[(row["day"], row["tp"])].update(invitations=row["n"], invitations_sent=row["sent"])
    return [{"day": day, "touchpoint_id": tp, **values} for (day, tp), values in rows.items()]


def answer_rows(org, start: datetime, end: datetime, touchpoint=None) -> list[dict]:
    """Per (local day, touchpoint, question key, value): how many answers. One query."""
    answers = Answer.objects.filter(
        response__org=org,
        response__submitted_at__gte=start,
        response__submitted_at__lt=end,
        question__kind__in=[Question.Kind.YES_NO, Question.Kind.RATING, Question.Kind.CHOICE],
    )
    if touchpoint is not None:
        answers = answers.filter(response__invitation__interaction__touchpoint=touchpoint)
    rows = (
        answers.annotate(
            day=TruncDate("response__submitted_at", tzinfo=org.tz),
            tp=F("response__invitation__interaction__touchpoint_id"),
            key=F("question__key"),
        )
        .values("day", "tp", "key", "yes_no", "rating", "choice")
        .annotate(n=Count("pk"), text=Max("question__text"), position=Min("question__position"))
    )
    return [
        {
            "day": row["day"],
            "touchpoint_id": row["tp"],
            "question_key": row["key"],
            "question_text": row["text"][:200],
            "position": row["position"],
            "value": _value_label(row),
            "count": row["n"],
        }
        for row in rows
    ]


def _value_label(row) -> str:
    label = Answer.label_of(yes_no=row["yes_no"], rating=row["rating"], choice=row["choice"])
    return (label or "(no answer)")[:200]


def rollups_refresh(*, org, now: datetime) -> int:
    """Recompute the organisation's roll-ups from a few days before the last complete day
    (or from its first invitation) up to yesterday, local time. Returns the days written.

    The state row is locked first, so two sweeps refreshing the same organisation queue up
    instead of writing the same days twice.
    """
    tz = org.tz
    yesterday = now.astimezone(tz).date() - timedelta(days=1)
    with transaction.atomic():
        state = RollupState.objects.select_for_update().filter(org=org).first()
        if state is not None:
            first = state.complete_through - timedelta(days=REDO_DAYS - 1)
        else:
            first = _first_day(org, tz) or yesterday
        first = max(first, yesterday - timedelta(days=MAX_BACKFILL_DAYS))
        if first > yesterday:
            return 0
        start, end = local_midnight(first, tz), local_midnight(yesterday + timedelta(days=1), tz)
        # Traffic and answers also for today so far: the page then counts live only what came
        # in since this sweep, not since midnight.
        DailyRollup.objects.filter(org=org, day__gte=first).delete()
        AnswerRollup.objects.filter(org=org, day__gte=first).delete()
        DailyRollup.objects.bulk_create(
            [DailyRollup(org=org, **row) for row in traffic_rows(org, start, now)], batch_size=2000
        )
        AnswerRollup.objects.bulk_create(
            [AnswerRollup(org=org, **row) for row in answer_rows(org, start, now)], batch_size=2000
        )
        actions_from = yesterday - timedelta(days=ACTION_DAYS - 1)
        ActionRollup.objects.filter(org=org).delete()
        ActionRollup.objects.bulk_create(
            [
                ActionRollup(org=org, **row)
                for row in action_rows(org, local_midnight(actions_from, tz), end)
            ],
            batch_size=1000,
        )
        RollupState.objects.update_or_create(
            org=org,
            defaults={
                "complete_through": yesterday,
                "actions_from": actions_from,
                "traffic_until": now,
                "refreshed_at": now,
            },
        )
    return (yesterday - first).days + 1


def microseconds(delta: timedelta) -> int:
    """A duration as whole microseconds, the unit ``ActionRollup`` keeps durations in."""
    return delta // timedelta(microseconds=1)


def action_rows(org, start: datetime, end: datetime) -> list[dict]:
    """Per (local day, touchpoint, owner) over [start, end): see ``ActionRollup``. Two
    queries; which actions count and which are kept are the model's rules
    (``Action.promise_counts_once_due`` and ``Action.promise_kept``, the twins of
    ``promise_counted_condition`` and ``promise_kept_condition`` for an action whose key day
    has passed, so whose deadline has), once against the first deadline and once against the
    deadline in force, each on its own key day."""
    tz = org.tz
    rows: dict = defaultdict(
        lambda: {
            "promised": 0,
            "kept": 0,
            "moved": 0,
            "first_promised": 0,
            "first_kept": 0,
            "first_moved": 0,
            "closed": 0,
            "first_reply_us": [],
            "closed_loop_us": [],
            "tags": {},
        }
    )
    actions = Action.objects.for_org(org).filter(
        in_period(start, end) | in_period(start, end, Promise.FIRST)
    )
    keyed = {}
    for (
        pk,
        status,
        tp,
        owner,
        created,
        due,
        first_due,
        first_reply,
        closed,
        merged,
    ) in actions.values_list(
        "pk",
        "status",
        "touchpoint_id",
        "owner_id",
        "created_at",
        "due_at",
        "first_due_at",
        "first_reply_at",
        "closed_at",
        "merged_into_id",
    ):
        counts = Action.promise_counts_once_due(status, merged=merged is not None)
        key = max(closed, due) if closed is not None else due
        if start <= key < end:
            row = rows[(key.astimezone(tz).date(), tp, owner)]
            if counts:
                row["promised"] += 1
                row["kept"] += Action.promise_kept(status=status, closed_at=closed, due_at=due)
                row["moved"] += due != first_due
            if first_reply is not None:
                row["first_reply_us"].append(microseconds(first_reply - created))
            keyed[pk] = row["tags"]
        first_key = max(closed, first_due) if closed is not None else first_due
        if counts and start <= first_key < end:
            row = rows[(first_key.astimezone(tz).date(), tp, owner)]
            row["first_promised"] += 1
            row["first_kept"] += Action.promise_kept(
                status=status, closed_at=closed, due_at=first_due
            )
            row["first_moved"] += due != first_due
        if status in Action.CLOSED_STATUSES and closed is not None and start <= closed < end:
            row = rows[(closed.astimezone(tz).date(), tp, owner)]
            row["closed"] += 1
            row["closed_loop_us"].append(microseconds(closed - created))
    tagged = Action.tags.through.objects.filter(action__in=actions)
    for action_id, name in tagged.values_list("action_id", "tag__name"):
        if action_id in keyed:
            keyed[action_id][name] = keyed[action_id].get(name, 0) + 1
    return [
        {"day": day, "touchpoint_id": tp, "owner_id": owner, **values}
        for (day, tp, owner), values in rows.items()
    ]


def _first_day(org, tz) -> date | None:
    first = Invitation.objects.filter(org=org).aggregate(first=Min("created_at"))["first"]
    submitted = Response.objects.filter(org=org).aggregate(first=Min("submitted_at"))["first"]
    found = [moment for moment in (first, submitted) if moment is not None]
    return min(found).astimezone(tz).date() if found else None


def live_start_for(org, start: datetime, complete_through: date | None) -> datetime:
    """Where live counting starts for a window from ``start``: the day after the roll-ups'
    last complete day, or ``start`` itself."""
    if complete_through is None:
        return start
    return max(start, local_midnight(complete_through + timedelta(days=1), org.tz))


_UNKNOWN = object()


def traffic_until(org, state) -> datetime | None:
    """The moment traffic and answers are rolled up to, from ``rollup_state``: None before the
    first refresh."""
    complete, _, until = state
    if until is not None:
        return until
    return None if complete is None else local_midnight(complete + timedelta(days=1), org.tz)


def _rolled(model, org, start: datetime, until: datetime | None, touchpoint):
    """Roll-up rows for the days from ``start`` (a local midnight) up to ``until``, or None."""
    if until is None or until <= start:
        return None
    last_day = (until - timedelta(microseconds=1)).astimezone(org.tz).date()
    rows = model.objects.filter(
        org=org, day__gte=start.astimezone(org.tz).date(), day__lte=last_day
    )
    return rows if touchpoint is None else rows.filter(touchpoint=touchpoint)


def traffic_by_day(
    org, start: datetime, end: datetime, touchpoint=None, until=_UNKNOWN
) -> dict[date, dict]:
    """Traffic per local day over [start, end): roll-ups up to ``until`` (from
    ``traffic_until``), live counts for the rest. ``start`` must be a local midnight. Up to
    four queries (three when the caller passes ``until``)."""
    if until is _UNKNOWN:
        until = traffic_until(org, rollup_state(org))
    days: dict = defaultdict(lambda: dict.fromkeys(TRAFFIC_FIELDS, 0))
    rolled = _rolled(DailyRollup, org, start, until, touchpoint)
    if rolled is not None:
        for row in rolled.values("day").annotate(**{f: Sum(f) for f in TRAFFIC_FIELDS}):
            days[row["day"]].update({f: row[f] for f in TRAFFIC_FIELDS})
    live_start = start if until is None else max(start, until)
    if live_start < end:
        for row in traffic_rows(org, live_start, end, touchpoint):
            for field in TRAFFIC_FIELDS:
                days[row["day"]][field] += row[field]
    return dict(days)


def answer_distribution(
    org, start: datetime, end: datetime, touchpoint=None, until=_UNKNOWN
) -> list[dict]:
    """Per question (in survey order): its text and [(value, count)], most answers first for
    choices, in scale order for yes/no and ratings. Up to three queries."""
    if until is _UNKNOWN:
        until = traffic_until(org, rollup_state(org))
    counts: dict = defaultdict(lambda: defaultdict(int))
    meta: dict = {}
    rolled = _rolled(AnswerRollup, org, start, until, touchpoint)
    if rolled is not None:
        for row in rolled.values("question_key", "value").annotate(
            n=Sum("count"), text=Max("question_text"), position=Min("position")
        ):
            counts[row["question_key"]][row["value"]] += row["n"]
            meta.setdefault(row["question_key"], (row["position"], row["text"]))
    live_start = start if until is None else max(start, until)
    if live_start < end:
        for row in answer_rows(org, live_start, end, touchpoint):
            counts[row["question_key"]][row["value"]] += row["count"]
            meta[row["question_key"]] = (row["position"], row["question_text"])
    questions = []
    for key, values in counts.items():
        position, text = meta[key]
        total = sum(values.values())
        ordered = sorted(values.items(), key=_value_order)
        questions.append(
            {
                "key": key,
                "text": text,
                "position": position,
                "total": total,
                "values": [
                    {"value": v, "count": n, "percent": round(n * 100 / total)} for v, n in ordered
                ],
            }
        )
    questions.sort(key=lambda q: (q["position"], q["text"]))
    return questions


_SCALE = {"Yes": 0, "No": 1, **{str(n): 10 - n for n in range(1, 6)}}


def _value_order(item):
    value, count = item
    return (0, _SCALE[value], "") if value in _SCALE else (1, -count, value)


def complete_through(org) -> date | None:
    """The last local day the organisation's roll-ups cover, or None."""
    return RollupState.objects.filter(org=org).values_list("complete_through", flat=True).first()


def rollup_state(org) -> tuple[date | None, date | None, datetime | None]:
    """(complete_through, actions_from, traffic_until), all None before the first refresh. One
    query."""
    found = RollupState.objects.filter(org=org).values_list(
        "complete_through", "actions_from", "traffic_until"
    )
    return found.first() or (None, None, None)
