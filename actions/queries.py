"""Reads for the actions pages: the inbox list and counts, one action's context."""

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import urlencode

from django.db.models import Count, Prefetch, Q, Subquery
from django.db.models.functions import Coalesce
from rapidfuzz import fuzz
from rapidfuzz.utils import default_process

from accounts.models import Membership, Organisation
from accounts.text import text_storable
from surveys.models import Answer, Interaction, Response, Touchpoint

from .models import Action, ActionEvent, Cause, Kind, LoopMessage

TABS = ("mine", "team", "overdue", "done")
DUE_CHOICES = [
    ("", "Any time"),
    ("overdue", "Overdue"),
    ("today", "Due today"),
    ("week", "Due in the next 7 days"),
    ("later", "Due later"),
]
SEARCH_LIMIT = 200


@dataclass
class InboxFilters:
    tab: str = "mine"
    touchpoint: str = ""
    kind: str = ""
    status: str = ""
    owner: str = ""
    due: str = ""
    q: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def narrowed(self) -> bool:
        return any((self.touchpoint, self.kind, self.status, self.owner, self.due, self.q))

    @classmethod
    def from_query(cls, query) -> "InboxFilters":
        def get(name):
            return text_storable(query.get(name, ""), limit=SEARCH_LIMIT)

        tab = get("tab")
        return cls(
            tab=tab if tab in TABS else "mine",
            touchpoint=get("touchpoint"),
            kind=get("kind"),
            status=get("status"),
            owner=get("owner"),
            due=get("due"),
            q=get("q"),
        )

    def querystring(self, **changes) -> str:
        values = {
            "tab": self.tab,
            "touchpoint": self.touchpoint,
            "kind": self.kind,
            "status": self.status,
            "owner": self.owner,
            "due": self.due,
            "q": self.q,
        }
        values.update(changes)
        return urlencode({k: v for k, v in values.items() if v})


def _uuid_or_none(value: str):
    try:
        return uuid.UUID(value)
    except (ValueError, AttributeError):
        return None


def _count(qs):
    return Coalesce(Subquery(qs.order_by().values("org").annotate(n=Count("*")).values("n")[:1]), 0)


def inbox_counts(*, member: Membership, now: datetime) -> dict:
    """The four tab counts in one query of four COUNT(*) subqueries, each of which PostgreSQL
    answers from an index alone ((org, status, due_at), or the partial open-by-owner index),
    so a business with a long history doesn't pay for it on every inbox render."""
    actions = Action.objects.filter(org=member.org_id)
    return (
        Organisation.objects.filter(pk=member.org_id)
        .annotate(
            mine=_count(actions.open().filter(owner=member)),
            team=_count(actions.open()),
            overdue=_count(actions.overdue(now)),
            done=_count(actions.closed()),
        )
        .values("mine", "team", "overdue", "done")
        .get()
    )


def inbox_actions(*, member: Membership, filters: InboxFilters, now: datetime):
    """The actions of one inbox tab, filtered, in the order to work them."""
    org = member.org
    qs = Action.objects.filter(org=org)
    if filters.tab == "mine":
        qs = qs.open().filter(owner=member).order_by("due_at", "pk")
    elif filters.tab == "team":
        qs = qs.open().order_by("due_at", "pk")
    elif filters.tab == "overdue":
        qs = qs.overdue(now).order_by("due_at", "pk")
    else:
        # Sort by closed_at, not id, so PostgreSQL walks the (org, -closed_at) index.
        qs = qs.closed().order_by("-closed_at", "-pk")
    if code := _uuid_or_none(filters.touchpoint):
        qs = qs.filter(touchpoint__code=code)
    if filters.kind in Kind.values:
        qs = qs.filter(kind=filters.kind)
    if filters.status in Action.Status.values:
        qs = qs.filter(status=filters.status)
    if filters.tab != "mine" and (code := _uuid_or_none(filters.owner)):
        qs = qs.filter(owner__code=code)
    qs = _filter_due(qs, filters.due, now, org)
    if filters.q:
        qs = qs.filter(Q(words__icontains=filters.q) | Q(summary__icontains=filters.q))
    return qs.select_related("owner__user", "customer", "touchpoint").prefetch_related("tags")


def _filter_due(qs, due: str, now: datetime, org):
    local = now.astimezone(org.tz)
    end_of_today = local.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    if due == "overdue":
        # The one meaning of overdue: an action waiting on the customer is past due but its
        # clock is paused, and a closed one can't fall overdue.
        return qs.overdue(now)
    if due == "today":
        return qs.filter(due_at__gte=now, due_at__lt=end_of_today)
    if due == "week":
        return qs.filter(due_at__gte=now, due_at__lt=now + timedelta(days=7))
    if due == "later":
        return qs.filter(due_at__gte=now + timedelta(days=7))
    return qs


def inbox_choices(*, org) -> dict:
    return {
        "touchpoints": list(Touchpoint.objects.filter(org=org).only("code", "name")),
        "members": list(Membership.objects.filter(org=org).select_related("user")),
        "kinds": Kind.choices,
        "statuses": Action.Status.choices,
        "dues": DUE_CHOICES,
    }


def action_context(*, action: Action) -> dict:
    """Everything the action page shows, words first."""
    links = list(
        action.links.select_related("response__customer", "response__invitation__interaction")
        .prefetch_related(
            Prefetch(
                "response__answers",
                queryset=Answer.objects.select_related("question").order_by("question__position"),
            )
        )
        .order_by("linked_at", "pk")
    )
    responses = [link.response for link in links]
    linked_ids = [r.pk for r in responses]
    earlier = list(
        Response.objects.filter(customer=action.customer, submitted_at__isnull=False)
        .exclude(pk__in=linked_ids)
        .select_related("invitation__interaction__touchpoint")
        .prefetch_related("action_link__action")
        .order_by("-submitted_at")[:10]
    )
    # Earlier visits: the ones this action's own feedback came from are already on the page.
    interactions = list(
        Interaction.objects.filter(customer=action.customer)
        .exclude(pk__in=[r.invitation.interaction_id for r in responses])
        .select_related("touchpoint", "staff__user")
        .order_by("-occurred_at")[:10]
    )
    events = list(
        ActionEvent.objects.filter(action=action)
        .select_related("actor__user")
        .order_by("created_at", "pk")
    )
    loop_messages = list(
        LoopMessage.objects.filter(action=action).select_related(
            "response__customer", "sent_by__user"
        )
    )
    return {
        # The customer's email replies (actions.inbound), newest first: their latest words
        # lead the page.
        "email_replies": [
            e
            for e in reversed(events)
            if e.kind == ActionEvent.Kind.CUSTOMER_REPLY and "inbound_event" in e.data
        ],
        "responses": responses,
        "earlier": earlier,
        "interactions": interactions,
        "events": events,
        "loop_messages": loop_messages,
        "late_change": late_note_pending(action=action, events=events),
    }


def late_note_pending(*, action: Action, events: list[ActionEvent]) -> ActionEvent | None:
    """The deadline change the customer has not yet been told about, if the action is open,
    the latest change was a member's (not a paused clock) with a reason for the customer, and
    a linked customer may be written to. ``events`` is the action's history, oldest first."""
    if not action.is_open:
        return None
    changes = [
        e
        for e in events
        if e.kind == ActionEvent.Kind.DEADLINE_CHANGED and e.data.get("from") != e.data.get("to")
    ]
    if not changes:
        return None
    change = changes[-1]
    if change.data.get("paused") or not change.data.get("customer_reason"):
        return None
    told = any(
        e.kind == ActionEvent.Kind.EMAIL_OUT and e.data.get("late_note") == change.pk
        for e in events
    )
    if told or not any(Action.may_write_to(link.response.customer) for link in _links(action)):
        return None
    return change


def _links(action: Action):
    return action.links.select_related("response__customer")


@dataclass(frozen=True)
class Move:
    """One move of the date a customer was promised, as their status page tells it."""

    at: datetime
    to: datetime
    reason: str


def promise_timeline(*, action: Action) -> dict:
    """For the customer's status page: the date they were first promised and every move of
    it since, each with its customer-facing reason. One query."""
    moves = []
    first = None
    events = ActionEvent.objects.filter(
        action=action, kind__in=[ActionEvent.Kind.DEADLINE_CHANGED, ActionEvent.Kind.REOPENED]
    ).order_by("created_at", "pk")
    for event in events:
        data = event.data
        if first is None and "first_from" in data:
            # The first promise as first given, before any wait on the customer moved it on.
            first = datetime.fromisoformat(data["first_from"])
        to = data.get("due_to") if event.kind == ActionEvent.Kind.REOPENED else data.get("to")
        if not to or (event.kind == ActionEvent.Kind.DEADLINE_CHANGED and to == data["from"]):
            continue
        if data.get("paused"):
            reason = "We were waiting to hear from you, so the date moved on by that time."
        elif event.kind == ActionEvent.Kind.REOPENED:
            reason = "You told us it wasn't sorted, so we're on it again."
        else:
            reason = data.get("customer_reason", "")
        moves.append(Move(at=event.created_at, to=datetime.fromisoformat(to), reason=reason))
    return {"promised_at": first or action.first_due_at, "moves": moves}


def merge_candidates(*, action: Action) -> dict:
    """Other open actions of the business, and recent feedback that opened no action, to
    link to this one."""
    actions = list(
        Action.objects.filter(org=action.org_id)
        .open()
        .exclude(pk=action.pk)
        .select_related("customer")
        .order_by("-created_at")[:50]
    )
    responses = list(
        Response.objects.filter(
            org=action.org_id, submitted_at__isnull=False, action_link__isnull=True
        )
        .select_related("customer")
        .order_by("-submitted_at")[:30]
    )
    return {"merge_actions": actions, "merge_responses": responses}


# --- The read API (actions.api) -----------------------------------------------------------------


def _api_actions(org):
    return (
        Action.objects.filter(org=org)
        .select_related("owner__user", "customer", "touchpoint")
        .prefetch_related(
            Prefetch(
                "events",
                queryset=ActionEvent.objects.select_related("actor__user").order_by(
                    "created_at", "id"
                ),
            )
        )
        .order_by("-created_at", "-id")
    )


def api_actions_page(*, org, since, until, touchpoint, status, after, limit: int) -> list[Action]:
    """One page of actions, newest first, after the keyset ``after``: two queries whatever
    the page (the actions with owner, customer and touchpoint, then their history).
    ``created_at <= t`` leads the keyset condition so that an index on (org, created_at)
    bounds the scan."""
    rows = _api_actions(org)
    if since:
        rows = rows.filter(created_at__gte=since)
    if until:
        rows = rows.filter(created_at__lt=until)
    if touchpoint:
        rows = rows.filter(touchpoint__slug=touchpoint)
    if status:
        rows = rows.filter(status=status)
    if after:
        when, pk = after
        rows = rows.filter(Q(created_at__lte=when), Q(created_at__lt=when) | Q(id__lt=pk))
    return list(rows[:limit])


def api_action(*, org, code: str) -> Action | None:
    """The organisation's action with this code, or None (also for a code that isn't a UUID)."""
    key = _uuid_or_none(code)
    return _api_actions(org).filter(code=key).first() if key else None


# --- Similar open problems (the action page suggests them to link) --------------------------

#: Only open actions opened this recently are compared, and at most this many, newest first:
#: one query and a few milliseconds of matching, however large the business.
SIMILAR_DAYS = 90
SIMILAR_CANDIDATES = 200
#: token_set_ratio (0-100) over the content words at or above which two complaints are
#: suggested as the same problem. Rephrasings score 70-90 ("The brakes squeak when I stop" /
#: "squeaky brakes whenever I stop the bike": 86); unrelated complaints in the same shop stay
#: under 55 ("The shop was closed at 5pm": 42): tests/actions/test_similar.py holds both.
SIMILAR_THRESHOLD = 60
SIMILAR_LIMIT = 5
# Words every complaint shares: left in, they make any two complaints look alike ("when I",
# "the").
_STOP_TEXT = """a about after again all am an and any are as at be been before but by can
    could did do
    does for from get got had has have he her him his how i i'm im in into is it it's its just
    me my no not of on once or our out over she so some than that the their them then there
    these they this to too up us very was we were what when whenever where which while who
    why will with would you your"""
_STOP_WORDS = frozenset(_STOP_TEXT.split())


def complaint_words(text: str) -> str:
    """The content words of a complaint, lower-case, punctuation gone: what is compared."""
    return " ".join(w for w in default_process(text).split() if w not in _STOP_WORDS)


def similarity(a: str, b: str) -> float:
    """How alike two complaints are, 0-100: token_set_ratio over their content words, so word
    order and extra words matter little. One content word on either side is too little to
    tell (token_set_ratio would call "brakes" identical to any complaint about brakes)."""
    words_a, words_b = complaint_words(a), complaint_words(b)
    if len(words_a.split()) < 2 or len(words_b.split()) < 2:
        return 0.0
    return fuzz.token_set_ratio(words_a, words_b)


@dataclass
class Similar:
    action: Action
    score: int


def similar_open_actions(*, action: Action, now: datetime) -> list[Similar]:
    """Other open problems of the business, opened in the last ``SIMILAR_DAYS``, whose
    customers' words are like this action's, most alike first. One query."""
    words = action.words or action.summary
    if not words:
        return []
    candidates = list(
        Action.objects.filter(
            org=action.org_id,
            status__in=Action.OPEN_STATUSES,
            merged_into=None,
            created_at__gte=now - timedelta(days=SIMILAR_DAYS),
        )
        .exclude(pk=action.pk)
        .exclude(words="")
        .select_related("customer")
        .order_by("-created_at")[:SIMILAR_CANDIDATES]
    )
    found = []
    for other in candidates:
        score = similarity(words, other.words)
        if score >= SIMILAR_THRESHOLD:
            found.append(Similar(action=other, score=round(score)))
    found.sort(key=lambda s: (-s.score, -s.action.created_at.timestamp()))
    return found[:SIMILAR_LIMIT]


# --- Causes (owners' list; the close form offers the active ones) ------------------------------


def org_causes(*, org: Organisation) -> list:
    """The business's causes, active first, with how many problems each explains."""
    return list(
        Cause.objects.filter(org=org)
        .annotate(uses=Count("actions", filter=Q(actions__merged_into=None)))
        .order_by("-active", "name")
    )
