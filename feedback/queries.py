"""Reads for the dashboard, the public wall and the publishing page. Each function makes a
fixed number of queries, whatever the size of the business."""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Count, Exists, F, OuterRef, Q, Subquery
from django.urls import NoReverseMatch, reverse

from actions.models import Action, ActionResponse
from surveys.models import Response, Touchpoint

from . import rollups, stats
from .models import WallEntry

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
    promises: stats.PromisesKept = field(default_factory=lambda: stats.PromisesKept(0, 0))
    median_first_reply: timedelta | None = None
    median_closed_loop: timedelta | None = None

    @property
    def response_rate(self) -> int | None:
        if not self.invitations_sent:
            return None
        return round(self.responses * 100 / self.invitations_sent)

    @property
    def median_first_reply_display(self) -> str:
        return stats.humanise_duration(self.median_first_reply)

    @property
    def median_closed_loop_display(self) -> str:
        return stats.humanise_duration(self.median_closed_loop)


def figures(org, window: stats.Window, touchpoint=None, days: dict | None = None) -> Figures:
    """Traffic (roll-ups + live), promises kept, action counts and median times. Six or seven
    queries, or two when the caller passes the traffic ``days`` (from ``traffic_by_day``)."""
    result = Figures(window=window)
    if days is None:
        days = rollups.traffic_by_day(org, window.start, window.end, touchpoint)
    for day, counts in days.items():
        if day < window.first_day:
            continue
        for name in rollups.TRAFFIC_FIELDS:
            setattr(result, name, getattr(result, name) + counts[name])
    actions = Action.objects.for_org(org)
    if touchpoint is not None:
        actions = actions.filter(touchpoint=touchpoint)
    start, end = window.start, window.end
    counted = stats.promises_counted(start, end)
    loops = stats.loop_durations(start, end)
    medians = stats.median_aggregates(loops)
    # Only the rows any figure needs: open actions (few) and those closed or due in the window.
    rows = actions.filter(Q(status__in=Action.OPEN_STATUSES) | stats.in_period(start, end))
    row = rows.aggregate(
        **medians,
        closed=Count("pk", filter=Q(status__in=Action.CLOSED_STATUSES, closed_at__gte=start,
                                    closed_at__lt=end)),
        open=Count("pk", filter=Q(status__in=Action.OPEN_STATUSES)),
        overdue=Count("pk", filter=Q(status__in=[Action.Status.OPEN, Action.Status.IN_PROGRESS],
                                     due_at__lt=end)),
        promised=Count("pk", filter=counted),
        kept=Count("pk", filter=counted & stats.PROMISE_KEPT),
        moved=Count("pk", filter=counted & ~Q(due_at=F("first_due_at"))),
    )  # fmt: skip
    result.actions_closed = row["closed"]
    result.open_actions = row["open"]
    result.overdue_actions = row["overdue"]
    result.deadlines_moved = row["moved"]
    result.promises = stats.PromisesKept(kept=row["kept"], total=row["promised"])
    medians = {name: row[name] for name in medians} or stats.median_durations(actions, **loops)
    result.median_first_reply = medians["first_reply"]
    result.median_closed_loop = medians["closed_loop"]
    return result


def weekly_trend(org, now: datetime, touchpoint=None, weeks: int = TREND_WEEKS,
                 days: dict | None = None) -> list[dict]:  # fmt: skip
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
        trend.append({"start": week_start, "end": span[-1], "responses": responses,
                      "problems": problems})  # fmt: skip
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


def action_url(code) -> str:
    """The action's page (DESIGN.md: ``/actions/<code>/``)."""
    try:
        return reverse("actions:detail", args=[code])
    except NoReverseMatch:  # the actions app's detail page is not wired up yet
        return f"/actions/{code}/"


def overdue_actions(org, now: datetime, touchpoint=None, limit: int = 8) -> list[Action]:
    """Open actions past their deadline, most overdue first. One query."""
    actions = Action.objects.for_org(org).overdue(now)
    if touchpoint is not None:
        actions = actions.filter(touchpoint=touchpoint)
    found = list(actions.select_related("owner__user", "touchpoint").order_by("due_at")[:limit])
    for action in found:
        action.url = action_url(action.code)
    return found


def top_tags(org, window: stats.Window, touchpoint=None, limit: int = 10) -> list[dict]:
    """The tags members put most on actions opened, due or closed in the window. One query."""
    actions = Action.objects.for_org(org).filter(
        stats.in_period(window.start, window.end)
        | Q(
            created_at__gte=window.start, created_at__lt=window.end, status__in=Action.OPEN_STATUSES
        )
    )
    if touchpoint is not None:
        actions = actions.filter(touchpoint=touchpoint)
    return list(
        Action.tags.through.objects.filter(action__in=actions)
        .values("tag__name")
        .annotate(uses=Count("pk"))
        .order_by("-uses", "tag__name")[:limit]
    )


def promises_by_person(org, window: stats.Window, touchpoint=None) -> list[dict]:
    """Per action owner, ordered by name: promises kept of promises due, and loops closed.
    Deliberately nothing else: no customer scores per person (DESIGN.md). One query."""
    counted = stats.promises_counted(window.start, window.end)
    closed = Q(status__in=Action.CLOSED_STATUSES, closed_at__gte=window.start,
               closed_at__lt=window.end)  # fmt: skip
    actions = Action.objects.for_org(org).filter(owner__isnull=False).filter(counted | closed)
    if touchpoint is not None:
        actions = actions.filter(touchpoint=touchpoint)
    rows = (
        actions.values("owner", "owner__user__name", "owner__user__email")
        .annotate(
            promised=Count("pk", filter=counted),
            kept=Count("pk", filter=counted & stats.PROMISE_KEPT),
            closed=Count("pk", filter=closed),
        )
        .order_by("owner__user__name", "owner__user__email")
    )
    return [
        {
            "name": row["owner__user__name"] or row["owner__user__email"],
            "promises": stats.PromisesKept(kept=row["kept"], total=row["promised"]),
            "closed": row["closed"],
        }
        for row in rows
    ]


def dashboard(org, *, days: int, touchpoint, now: datetime) -> dict:
    """Everything the owner's dashboard shows. Fifteen queries or so, whatever the size."""
    window = stats.window_for(org, days, now)
    through = rollups.complete_through(org)
    # One read of the daily traffic serves both the window's figures and the weekly chart.
    span = stats.window_for(org, max(days, TREND_WEEKS * 7), now)
    traffic = rollups.traffic_by_day(org, span.start, now, touchpoint, through=through)
    return {
        "window": window,
        "figures": figures(org, window, touchpoint, days=traffic),
        "trend": weekly_trend(org, now, touchpoint, days=traffic),
        "verbatims": latest_verbatims(org, window, touchpoint),
        "overdue": overdue_actions(org, now, touchpoint),
        "questions": rollups.answer_distribution(
            org, window.start, window.end, touchpoint, through=through
        ),
        "tags": top_tags(org, window, touchpoint),
        "people": promises_by_person(org, window, touchpoint),
    }


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
        ActionResponse.objects.filter(action__org=org, action__status=Action.Status.DONE,
                                      **may_quote)
        .exclude(response__verbatim="")
        .filter(~Exists(live))
        .select_related("action__touchpoint", "response__customer")
        .order_by("-action__closed_at")[:limit]
    )  # fmt: skip
    for link in links:
        pairs.setdefault(link.response_id, (link.action, link.response))
    ordered = sorted(pairs.values(), key=lambda pair: pair[0].closed_at or pair[0].created_at,
                     reverse=True)  # fmt: skip
    return ordered[:limit]


def live_entries(org, touchpoint=None):
    """The organisation's entries the public may see, newest first."""
    entries = WallEntry.objects.filter(org=org).live()
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
