"""Reads for the dashboard, the public wall and the publishing page. Each function makes a
fixed number of queries, whatever the size of the business."""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import BigIntegerField, Count, Exists, OuterRef, Q, Subquery, Value
from django.db.models.functions import Cast, StrIndex, Substr
from django.urls import reverse

from accounts.models import OutgoingEmail
from actions.durations import duration_words
from actions.models import (
    Action,
    ActionResponse,
    FollowUp,
    LoopMessage,
    Promise,
    deadline_moved_condition,
    overdue_condition,
    promise_counted_condition,
    promise_kept_condition,
)
from surveys.models import Invitation, Response, Touchpoint

from . import rollups, stats
from .models import ActionRollup, WallEntry

WALL_WINDOW_DAYS = 90
DASHBOARD_WINDOWS = (7, 30, 90)
TREND_WEEKS = 12


@dataclass
class Figures:
    """The headline figures over a window: counts of every response and action."""

    window: stats.Window
    invitations: int = 0
    invitations_sent: int = 0
    responses: int = 0
    problem_responses: int = 0
    with_words: int = 0
    actions_closed: int = 0
    open_actions: int = 0
    overdue_actions: int = 0
    deadlines_moved: int = 0
    #: Against the first deadline: the figure the wall and the dashboard lead with.
    promises: stats.PromisesKept = field(default_factory=lambda: stats.PromisesKept(0, 0))
    #: Against the deadline in force: the dashboard's second figure, labelled as such.
    promises_in_force: stats.PromisesKept = field(default_factory=lambda: stats.PromisesKept(0, 0))
    outcomes: stats.Outcomes = field(default_factory=stats.Outcomes)
    median_first_reply: timedelta | None = None
    median_closed_loop: timedelta | None = None
    #: Responses through the email channel, when the caller counted them by channel: only
    #: these answer a sent invitation, so only these count towards the response rate.
    emailed_responses: int | None = None

    @property
    def moved_percent(self) -> int | None:
        """The share of the promises counted whose deadline moved, whole percent rounded up
        (so one move in 300 never shows as 0%)."""
        total = self.promises.total
        return -(-self.deadlines_moved * 100 // total) if total else None

    @property
    def response_rate(self) -> int | None:
        """Answers to emailed invitations per invitation sent: a poster, website or kiosk
        answer had no invitation, so counting it would push the rate past what was asked."""
        if not self.invitations_sent:
            return None
        answered = self.responses if self.emailed_responses is None else self.emailed_responses
        return round(answered * 100 / self.invitations_sent)

    @property
    def median_first_reply_display(self) -> str:
        return duration_words(self.median_first_reply)

    @property
    def median_closed_loop_display(self) -> str:
        return duration_words(self.median_closed_loop)


def figures(
    org,
    window: stats.Window,
    touchpoint=None,
    days: dict | None = None,
    numbers: "ActionNumbers | None" = None,
) -> Figures:
    """Traffic (roll-ups + live) and the action figures. Up to nine queries; none when the
    caller passes the traffic ``days`` (from ``traffic_by_day``) and ``action_numbers``."""
    result = Figures(window=window)
    if days is None:
        days = rollups.traffic_by_day(org, window.start, window.end, touchpoint)
    for day, counts in days.items():
        if day < window.first_day:
            continue
        for name in rollups.TRAFFIC_FIELDS:
            setattr(result, name, getattr(result, name) + counts[name])
    if numbers is None:
        numbers = action_numbers(org, window, touchpoint, with_tags=False)
    result.actions_closed = numbers.closed
    result.open_actions = numbers.open
    result.overdue_actions = numbers.overdue
    result.deadlines_moved = numbers.moved
    result.promises = numbers.promises
    result.promises_in_force = numbers.promises_in_force
    result.outcomes = numbers.outcomes
    result.median_first_reply = numbers.median_first_reply
    result.median_closed_loop = numbers.median_closed_loop
    return result


@dataclass
class ActionNumbers:
    """What the dashboard and the wall say about actions over a window."""

    closed: int = 0
    open: int = 0
    overdue: int = 0
    moved: int = 0
    promises: stats.PromisesKept = field(default_factory=lambda: stats.PromisesKept(0, 0))
    promises_in_force: stats.PromisesKept = field(default_factory=lambda: stats.PromisesKept(0, 0))
    outcomes: stats.Outcomes = field(default_factory=stats.Outcomes)
    median_first_reply: timedelta | None = None
    median_closed_loop: timedelta | None = None
    people: list[dict] = field(default_factory=list)
    tags: list[dict] = field(default_factory=list)


_COUNTERS = ("promised", "kept", "first_promised", "first_kept", "first_moved", "closed")


def _median(values: list[int]) -> timedelta | None:
    """The median of microsecond counts, as ``statistics.median`` takes it of timedeltas."""
    if not values:
        return None
    values.sort()
    middle = len(values) // 2
    if len(values) % 2:
        return timedelta(microseconds=values[middle])
    return timedelta(microseconds=(values[middle - 1] + values[middle]) / 2)


def action_numbers(
    org,
    window: stats.Window,
    touchpoint=None,
    state=None,
    *,
    with_tags: bool = True,
    tag_limit: int = 10,
) -> ActionNumbers:
    """Every action figure over the window: closed, open, overdue, promises kept and moved
    deadlines, median times, per person promises and loops closed, the most used tags.

    Days from the window's first up to the last complete day come from ``ActionRollup`` (one
    query) when the roll-ups cover them; the rest (normally today, and closed actions whose
    deadline is still ahead) is counted live in four queries (three without tags), and what
    customers answered to "Did this sort it out?" in one more. Either way each action is
    counted once per figure: see ``ActionRollup`` for its key days. ``state`` is
    ``rollups.rollup_state(org)`` when the caller has it.
    """
    start, now = window.start, window.end
    through, actions_from, _ = state if state is not None else rollups.rollup_state(org)
    if actions_from is None or actions_from > window.first_day:
        through = None  # the roll-ups do not reach back far enough: count all of it live
    live_start = rollups.live_start_for(org, start, through)
    owners: dict = {}
    totals = dict.fromkeys(_COUNTERS, 0)
    first_reply: list[int] = []
    closed_loop: list[int] = []
    tag_uses: dict[str, int] = {}

    def add(row):
        key = row["owner"]
        if key not in owners:
            owners[key] = {
                "name": row["owner__user__name"],
                "email": row["owner__user__email"],
                **dict.fromkeys(_COUNTERS, 0),
            }
        for name in _COUNTERS:
            owners[key][name] += row[name]
            totals[name] += row[name]

    if through is not None and through >= window.first_day:
        rolled = ActionRollup.objects.filter(org=org, day__gte=window.first_day, day__lte=through)
        if touchpoint is not None:
            rolled = rolled.filter(touchpoint=touchpoint)
        for row in rolled.values(
            "owner",
            "owner__user__name",
            "owner__user__email",
            *_COUNTERS,
            "first_reply_us",
            "closed_loop_us",
            "tags",
        ):
            add(row)
            first_reply.extend(row["first_reply_us"])
            closed_loop.extend(row["closed_loop_us"])
            if with_tags:
                for name, uses in row["tags"].items():
                    tag_uses[name] = tag_uses.get(name, 0) + uses

    actions = Action.objects.for_org(org)
    if touchpoint is not None:
        actions = actions.filter(touchpoint=touchpoint)
    # The live rest: what no roll-up row counted yet, for each deadline's key day.
    rest = _live_rest(start, live_start, now, Promise.IN_FORCE)
    first_rest = _live_rest(start, live_start, now, Promise.FIRST)
    counted = promise_counted_condition(start, now, Promise.IN_FORCE) & rest
    first_counted = promise_counted_condition(start, now) & first_rest
    closed = Q(status__in=Action.CLOSED_STATUSES, closed_at__gte=live_start, closed_at__lt=now)
    open_count = overdue_count = 0
    for row in (
        actions.filter(Q(status__in=Action.OPEN_STATUSES) | rest | first_rest)
        .values("owner", "owner__user__name", "owner__user__email")
        .annotate(
            open=Count("pk", filter=Q(status__in=Action.OPEN_STATUSES)),
            overdue=Count("pk", filter=overdue_condition(now)),
            promised=Count("pk", filter=counted),
            kept=Count("pk", filter=counted & promise_kept_condition(Promise.IN_FORCE)),
            first_promised=Count("pk", filter=first_counted),
            first_kept=Count("pk", filter=first_counted & promise_kept_condition()),
            first_moved=Count("pk", filter=first_counted & deadline_moved_condition()),
            closed=Count("pk", filter=closed),
        )
        .order_by()
    ):
        add(row)
        open_count += row["open"]
        overdue_count += row["overdue"]
    for status, created, replied, closed_at in actions.filter(rest).values_list(
        "status", "created_at", "first_reply_at", "closed_at"
    ):
        if replied is not None:
            first_reply.append(rollups.microseconds(replied - created))
        if status in Action.CLOSED_STATUSES and closed_at and live_start <= closed_at < now:
            closed_loop.append(rollups.microseconds(closed_at - created))

    tags: list[dict] = []
    if with_tags:
        # Also open actions opened in the window, unless the roll-ups counted them already.
        opened = Q(status__in=Action.OPEN_STATUSES, created_at__gte=start, created_at__lt=now)
        opened &= ~Q(due_at__gte=start, due_at__lt=live_start)
        tagged = Action.tags.through.objects.filter(action__in=actions.filter(rest | opened))
        for row in tagged.values("tag__name").annotate(uses=Count("pk")).order_by():
            tag_uses[row["tag__name"]] = tag_uses.get(row["tag__name"], 0) + row["uses"]
        ranked = sorted(tag_uses.items(), key=lambda item: (-item[1], item[0]))
        tags = [{"tag__name": name, "uses": uses} for name, uses in ranked[:tag_limit] if uses]

    people = [
        {
            "name": o["name"] or o["email"],
            "promises": stats.PromisesKept(kept=o["first_kept"], total=o["first_promised"]),
            "closed": o["closed"],
        }
        for o in sorted(
            (
                o
                for key, o in owners.items()
                if key is not None and (o["first_promised"] or o["closed"])
            ),
            key=lambda o: (o["name"], o["email"]),
        )
    ]
    return ActionNumbers(
        closed=totals["closed"],
        open=open_count,
        overdue=overdue_count,
        moved=totals["first_moved"],
        promises=stats.PromisesKept(kept=totals["first_kept"], total=totals["first_promised"]),
        promises_in_force=stats.PromisesKept(kept=totals["kept"], total=totals["promised"]),
        outcomes=_outcomes(actions.told_outcomes(start, now)),
        median_first_reply=_median(first_reply),
        median_closed_loop=_median(closed_loop),
        people=people,
        tags=tags,
    )


def _outcomes(row: dict) -> stats.Outcomes:
    return stats.Outcomes(
        told=row["told"], confirmed=row["confirmed"], not_sorted=row["not_sorted"]
    )


def _live_rest(start: datetime, live_start: datetime, now: datetime, deadline: str) -> Q:
    """The actions of a window [start, now) whose key day for ``deadline`` no roll-up counted:
    closed or due since ``live_start``; closed in the window before it with that deadline
    still ahead; due in the window before it and closed "after now" (a clock a little behind
    another server's)."""
    rest = stats.in_period(live_start, now, deadline)
    if live_start > start:
        rest |= Q(
            status__in=Action.ALL_STATUSES,
            closed_at__gte=start,
            closed_at__lt=live_start,
            **{f"{deadline}__gte": now},
        )
        rest |= Q(closed_at__gte=now, **{f"{deadline}__gte": start, f"{deadline}__lt": live_start})
    return rest


def weekly_trend(
    org, now: datetime, touchpoint=None, weeks: int = TREND_WEEKS, days: dict | None = None
) -> list[dict]:
    """The last ``weeks`` weeks (each seven local days, the last ending today): responses and
    how many raised a problem. Three or four queries, none when the caller passes ``days``."""
    today = now.astimezone(org.tz).date()
    first = today - timedelta(days=weeks * 7 - 1)
    if days is None:
        days = rollups.traffic_by_day(org, stats.local_midnight(first, org.tz), now, touchpoint)
    trend = []
    for week in range(weeks):
        week_start = first + timedelta(days=week * 7)
        span = [week_start + timedelta(days=d) for d in range(7)]
        responses = sum(days.get(d, {}).get("responses", 0) for d in span)
        problems = sum(days.get(d, {}).get("problem_responses", 0) for d in span)
        trend.append(
            {"start": week_start, "end": span[-1], "responses": responses, "problems": problems}
        )
    return trend


def _action_of_response():
    """Subqueries naming the action a response belongs to: its link, else the action it
    opened."""
    primary = Action.objects.filter(response=OuterRef("pk")).order_by("created_at")
    return {
        "link_status": Subquery(
            ActionResponse.objects.filter(response=OuterRef("pk")).values("action__status")[:1]
        ),
        "primary_status": Subquery(primary.values("status")[:1]),
        "primary_code": Subquery(primary.values("code")[:1]),
        "link_code": Subquery(
            ActionResponse.objects.filter(response=OuterRef("pk")).values("action__code")[:1]
        ),
    }


def latest_verbatims(org, window: stats.Window, touchpoint=None, limit: int = 8) -> list:
    """The newest responses with words in the window, each with its action's status. One
    query."""
    responses = Response.objects.filter(
        org=org, submitted_at__gte=window.start, submitted_at__lt=window.end
    ).exclude(verbatim="")
    if touchpoint is not None:
        responses = responses.filter(invitation__interaction__touchpoint=touchpoint)
    rows = list(
        responses.select_related("customer", "invitation__interaction__touchpoint")
        .annotate(**_action_of_response())
        .order_by("-submitted_at")[:limit]
    )
    labels = dict(Action.Status.choices)
    for row in rows:
        status = row.link_status or row.primary_status
        row.action_status = status
        row.action_status_label = labels.get(status, "")
        row.action_code = row.link_code or row.primary_code
        row.action_url = action_url(row.action_code) if row.action_code else ""
    return rows


def responses_by_channel(org, window: stats.Window, touchpoint=None) -> list[dict]:
    """Responses submitted in the window by the door they came through (email, link, QR,
    website, kiosk), every channel listed in that order, zeros included. One query."""
    responses = Response.objects.filter(
        org=org, submitted_at__gte=window.start, submitted_at__lt=window.end
    )
    if touchpoint is not None:
        responses = responses.filter(invitation__interaction__touchpoint=touchpoint)
    counts = dict(
        responses.order_by().values("channel").annotate(n=Count("*")).values_list("channel", "n")
    )
    return [
        {"channel": value, "label": label, "count": counts.get(value, 0)}
        for value, label in Response.Channel.choices
    ]


def action_url(code) -> str:
    """The action's page, ``/actions/<code>/`` (a UUID code, never the row's id)."""
    return reverse("actions:detail", args=[code])


def overdue_actions(org, now: datetime, touchpoint=None, limit: int = 8) -> list[Action]:
    """Open actions past their deadline, most overdue first. One query."""
    actions = Action.objects.for_org(org).overdue(now)
    if touchpoint is not None:
        actions = actions.filter(touchpoint=touchpoint)
    found = list(actions.select_related("owner__user", "touchpoint").order_by("due_at")[:limit])
    for action in found:
        action.url = action_url(action.code)
    return found


def dashboard(org, *, days: int, touchpoint, now: datetime) -> dict:
    """Everything the owner's dashboard shows. Fifteen queries or so, whatever the size."""
    window = stats.window_for(org, days, now)
    state = rollups.rollup_state(org)
    until = rollups.traffic_until(org, state)
    # One read of the daily traffic serves both the window's figures and the weekly chart;
    # one pass over the actions serves the figures, the people and the tags.
    span = stats.window_for(org, max(days, TREND_WEEKS * 7), now)
    traffic = rollups.traffic_by_day(org, span.start, now, touchpoint, until=until)
    numbers = action_numbers(org, window, touchpoint, state)
    channels = responses_by_channel(org, window, touchpoint)
    result = figures(org, window, touchpoint, days=traffic, numbers=numbers)
    result.emailed_responses = next(
        c["count"] for c in channels if c["channel"] == Response.Channel.EMAIL
    )
    return {
        "window": window,
        "figures": result,
        "channels": channels,
        "trend": weekly_trend(org, now, touchpoint, days=traffic),
        "verbatims": latest_verbatims(org, window, touchpoint),
        "overdue": overdue_actions(org, now, touchpoint),
        "questions": rollups.answer_distribution(
            org, window.start, window.end, touchpoint, until=until
        ),
        "tags": numbers.tags,
        "people": numbers.people,
        "causes": cause_trend(org, window, touchpoint),
        "stayed_fixed": stayed_fixed(org, window, touchpoint),
    }


def _previous_start(window: stats.Window):
    """The start of the period of the same number of local days just before ``window``."""
    return stats.local_midnight(window.first_day - timedelta(days=window.days), window.start.tzinfo)


def cause_trend(org, window: stats.Window, touchpoint=None, limit: int = 5) -> list[dict]:
    """The causes behind the most problems closed in the window, with the period before for
    the trend: ``{"name", "now", "before", "change"}``. One query."""
    actions = Action.objects.for_org(org)
    if touchpoint is not None:
        actions = actions.filter(touchpoint=touchpoint)
    rows = actions.cause_trend(
        start=window.start, end=window.end, previous_start=_previous_start(window), limit=limit
    )
    return [
        {
            "name": row["cause__name"],
            "now": row["now"],
            "before": row["before"],
            "change": row["now"] - row["before"],
        }
        for row in rows
    ]


def stayed_fixed(org, window: stats.Window, touchpoint=None) -> dict[str, int]:
    """Of the "Is it still sorted?" follow-ups answered in the window, how many said yes:
    ``{"answered", "stayed"}``. One query."""
    follow_ups = FollowUp.objects.filter(org=org)
    if touchpoint is not None:
        follow_ups = follow_ups.filter(response__invitation__interaction__touchpoint=touchpoint)
    return follow_ups.stayed_fixed(window.start, window.end)


def publishable(org, limit: int = 50) -> list[tuple[Action, Response]]:
    """(action, response) pairs a member may publish: the action is done, the response is
    linked to it (or opened it), carries consent, and is not on the wall now. Two queries."""
    live = WallEntry.objects.filter(response=OuterRef("response"), unpublished_at=None)
    may_quote = {"response__consent_to_quote": True, "response__consent_withdrawn_at": None}
    pairs: dict[int, tuple[Action, Response]] = {}
    primary = (
        Action.objects.for_org(org)
        .filter(status=Action.Status.DONE, **may_quote)
        .exclude(response__verbatim="")
        .filter(~Exists(live))
        .select_related("response__customer", "touchpoint")
        .order_by("-closed_at")[:limit]
    )
    for action in primary:
        pairs[action.response_id] = (action, action.response)
    links = (
        ActionResponse.objects.filter(
            action__org=org, action__status=Action.Status.DONE, **may_quote
        )
        .exclude(response__verbatim="")
        .filter(~Exists(live))
        .select_related("action__touchpoint", "response__customer")
        .order_by("-action__closed_at")[:limit]
    )
    for link in links:
        pairs.setdefault(link.response_id, (link.action, link.response))
    ordered = sorted(
        pairs.values(), key=lambda pair: pair[0].closed_at or pair[0].created_at, reverse=True
    )
    return ordered[:limit]


def live_entries(org, touchpoint=None):
    """The organisation's entries the public may see, newest first; each knows its
    customer's answer to "Did this sort it out?" (``outcome``: "yes" carries the wall's
    "confirmed by the customer" mark)."""
    entries = (
        WallEntry.objects.filter(org=org)
        .live()
        .annotate(outcome=LoopMessage.latest_outcome(OuterRef("response")))
    )
    if touchpoint is not None:
        entries = entries.filter(touchpoint=touchpoint)
    return entries.order_by("-published_at", "-id")


def wall_touchpoints(org) -> list[Touchpoint]:
    """Touchpoints that have at least one live entry, for the wall's filter. One query."""
    return list(
        Touchpoint.objects.filter(org=org)
        .filter(Exists(WallEntry.objects.live().filter(touchpoint=OuterRef("pk"))))
        .order_by("name")
    )


# --- Deliverability: what came back about the survey emails -------------------------------------

DELIVERABILITY_DAYS = 30
SURVEY_EMAIL_KINDS = ("survey-invitation", "survey-reminder")
# Above these, mailbox providers start filing the business's mail as spam (Gmail and Yahoo
# ask senders to stay under 0.1 % complaints; a bounce rate past a few percent reads as a
# bought or stale list).
COMPLAINT_RATE_LIMIT = 0.001
BOUNCE_RATE_LIMIT = 0.05


@dataclass
class Deliverability:
    """Survey emails sent in the last 30 days and what came back, for one touchpoint or all."""

    name: str
    sent: int = 0
    bounced: int = 0
    complained: int = 0

    @property
    def bounce_rate(self) -> float:
        return self.bounced / self.sent if self.sent else 0.0

    @property
    def complaint_rate(self) -> float:
        return self.complained / self.sent if self.sent else 0.0

    @property
    def bounce_percent(self) -> str:
        return f"{self.bounce_rate * 100:.1f}"

    @property
    def complaint_percent(self) -> str:
        # Two places: the limit that matters is a tenth of a percent.
        return f"{self.complaint_rate * 100:.2f}"

    @property
    def too_many_bounces(self) -> bool:
        return self.bounce_rate > BOUNCE_RATE_LIMIT

    @property
    def too_many_complaints(self) -> bool:
        return self.complaint_rate > COMPLAINT_RATE_LIMIT


def deliverability(
    org, *, now: datetime, touchpoints: list[Touchpoint], touchpoint=None
) -> tuple[Deliverability, list[Deliverability]]:
    """(the business's totals, one row per touchpoint that sent any) over the last 30 days.

    One query: survey emails are found by kind and joined to their invitation through the
    outbox key (``invitation:<id>``, ``invitation-reminder:<id>``), since the accounts floor's
    row can't point at a survey's.
    """
    invitation_id = Cast(
        Substr("key", StrIndex("key", Value(":")) + 1), output_field=BigIntegerField()
    )
    touchpoint_of = Invitation.objects.filter(pk=OuterRef("invitation_id")).values(
        "interaction__touchpoint_id"
    )[:1]
    rows = (
        OutgoingEmail.objects.filter(
            org=org,
            kind__in=SURVEY_EMAIL_KINDS,
            sent_at__gte=now - timedelta(days=DELIVERABILITY_DAYS),
        )
        .annotate(invitation_id=invitation_id)
        .annotate(touchpoint_id=Subquery(touchpoint_of))
    )
    if touchpoint is not None:
        rows = rows.filter(touchpoint_id=touchpoint.pk)
    counts = rows.values("touchpoint_id").annotate(
        sent=Count("pk"),
        bounced=Count("pk", filter=Q(bounced_at__isnull=False)),
        complained=Count("pk", filter=Q(complained_at__isnull=False)),
    )
    names = {t.pk: t.name for t in touchpoints}
    total = Deliverability(name="All touchpoints")
    per_touchpoint = []
    for row in counts.order_by("touchpoint_id"):
        each = Deliverability(
            name=names.get(row["touchpoint_id"], "Other"),
            sent=row["sent"],
            bounced=row["bounced"],
            complained=row["complained"],
        )
        per_touchpoint.append(each)
        total.sent += each.sent
        total.bounced += each.bounced
        total.complained += each.complained
    per_touchpoint.sort(key=lambda d: d.name)
    return total, per_touchpoint
