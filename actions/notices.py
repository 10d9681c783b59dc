"""The scheduled notices about actions: reminder before the deadline, overdue at it, escalation
to the owners a working day after, and each member's morning digest.

Each notice is a due time and a sent time on the Action row (docs/architecture.md: rows, not
countdowns). A sweep claims due rows with ``SELECT … FOR UPDATE SKIP LOCKED`` in batches; in the
batch's transaction it records the emails under unique keys (``email_record``), marks the rows
sent and writes the history; once that has committed the outbox sends them
(``email_deliver``). A second sweep running at the same time skips the locked rows; a sweep
killed before the commit leaves them for the next one, and one killed after it leaves the
emails to the outbox sweep, which repeats at most the one in flight.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction

from accounts.mail import email_build, email_deliver, email_record, email_send_now, open_connection
from accounts.models import Membership, Organisation, OutgoingEmail

from . import deadlines
from .models import Action, ActionEvent
from .services import action_hook

BATCH = 200
# Waiting on the customer pauses the clock: no reminder, overdue notice or escalation then.
SWEPT_STATUSES = list(Action.CLOCK_RUNNING_STATUSES)


@dataclass(frozen=True)
class Notice:
    name: str
    due_field: str
    sent_field: str
    event: str
    template: str


# The filters match the partial indexes on Action field for field, so PostgreSQL answers
# "anything due?" from a small index even with 100,000 open actions.
NOTICES = [
    Notice(
        "reminder",
        "reminder_due_at",
        "reminder_sent_at",
        ActionEvent.Kind.REMINDER,
        "action-reminder",
    ),
    Notice("overdue", "due_at", "overdue_sent_at", ActionEvent.Kind.OVERDUE, "action-overdue"),
    Notice(
        "escalation", "escalate_at", "escalated_at", ActionEvent.Kind.ESCALATED, "action-escalation"
    ),
]


def _due(notice: Notice, now: datetime):
    filters = {
        notice.sent_field: None,
        "status__in": SWEPT_STATUSES,
        f"{notice.due_field}__lte": now,
    }
    if notice.due_field != "due_at":
        filters[f"{notice.due_field}__isnull"] = False
    return Action.objects.filter(**filters)


class _Owners:
    """Each organisation's owners, looked up once per sweep."""

    def __init__(self):
        self.cache: dict[int, list[Membership]] = {}

    def __call__(self, org_id: int) -> list[Membership]:
        if org_id not in self.cache:
            self.cache[org_id] = list(
                Membership.objects.filter(org_id=org_id, role=Membership.Role.OWNER)
                .select_related("user")
                .order_by("pk")
            )
        return self.cache[org_id]


def _recipients(notice: Notice, action: Action, owners: _Owners) -> list[Membership]:
    if notice.name == "escalation" or action.owner is None:
        return owners(action.org_id)
    return [action.owner]


def _send_batch(notice: Notice, now: datetime, batch: int, connection, owners) -> int:
    with transaction.atomic():
        claimed, keys = _record_batch(notice, now, batch, owners)
    if keys:
        email_deliver(keys=keys, now=now, connection=connection)
    return claimed


def _record_batch(notice: Notice, now: datetime, batch: int, owners) -> tuple[int, list[str]]:
    """Claim a batch of due actions, record their emails and mark them told. Returns (actions
    claimed, outbox keys recorded)."""
    rows = list(
        _due(notice, now)
        .select_for_update(skip_locked=True, of=("self",))
        .select_related("org", "owner__user", "customer", "touchpoint")
        .order_by(notice.due_field, "pk")[:batch]
    )
    if not rows:
        return 0, []
    emails, events = [], []
    for action in rows:
        # The key carries the deadline (a new deadline earns new notices, a retry doesn't)
        # and the recipient: an unowned action tells every owner, each under their own key.
        key = f"action-{notice.name}:{action.pk}:{int(action.due_at.timestamp())}"
        told = []
        for member in _recipients(notice, action, owners):
            emails.append(
                email_build(
                    key=f"{key}:{member.pk}",
                    kind=f"action_{notice.name}",
                    to=member.user.email,
                    template=notice.template,
                    context={"action": action, "member": member},
                    org=action.org,
                )
            )
            told.append(member.display_name)
        events.append(
            ActionEvent(
                action=action,
                kind=notice.event,
                created_at=now,
                text=f"Emailed {', '.join(told)}." if told else "Nobody to tell.",
            )
        )
    # A few statements per batch: the emails recorded, then one UPDATE and one INSERT here.
    # The rows are ours until this commits.
    outcome = email_record(emails)
    Action.objects.filter(pk__in=[a.pk for a in rows]).update(**{notice.sent_field: now})
    if notice.name == "overdue":
        for action in rows:
            action_hook(action, "action.overdue", now=now)
    ActionEvent.objects.bulk_create(events)
    return len(rows), [e.key for e in emails if e.key not in outcome.unrecorded]


def action_notices_sweep(*, now: datetime, batch: int = BATCH) -> dict[str, int]:
    """Send every reminder, overdue notice and escalation that has fallen due. Returns how
    many actions each kind covered."""
    owners = _Owners()
    counts = {}
    with open_connection() as connection:
        for notice in NOTICES:
            total = 0
            while sent := _send_batch(notice, now, batch, connection, owners):
                total += sent
                if sent < batch:
                    break
            counts[notice.name] = total
    return counts


# Morning digests -------------------------------------------------------------------------


def digest_key(member: Membership, day) -> str:
    return f"digest:{member.pk}:{day.isoformat()}"


def _end_of_local_day(now: datetime, org) -> datetime:
    local = now.astimezone(org.tz)
    tomorrow = local.date() + timedelta(days=1)
    return datetime.combine(tomorrow, datetime.min.time(), tzinfo=org.tz)


def morning_digests_send(*, now: datetime) -> int:
    """Once per local working day, after the business opens, email each member what is overdue
    or due today. Nothing overdue or due today means no email. Returns how many went out."""
    sent = 0
    org_ids = Action.objects.open().values_list("org_id", flat=True).distinct()
    for org in Organisation.objects.filter(pk__in=list(org_ids)):
        if not deadlines.has_started_work(now, org):
            continue
        day = deadlines.local_day(now, org)
        members = list(
            Membership.objects.filter(org=org, actions__status__in=SWEPT_STATUSES)
            .distinct()
            .select_related("user")
            .order_by("pk")
        )
        done = set(
            OutgoingEmail.objects.filter(key__in=[digest_key(m, day) for m in members]).values_list(
                "key", flat=True
            )
        )
        end_of_day = _end_of_local_day(now, org)
        with open_connection() as connection:
            for member in members:
                if digest_key(member, day) in done:
                    continue
                sent += _digest_one(member, org, day, now, end_of_day, connection)
    return sent


def _digest_one(member, org, day, now, end_of_day, connection) -> bool:
    actions = list(
        Action.objects.filter(org=org, owner=member, status__in=SWEPT_STATUSES)
        .select_related("customer")
        .order_by("due_at", "pk")
    )
    overdue = [a for a in actions if a.is_overdue(now)]
    due_today = [a for a in actions if now <= a.due_at < end_of_day]
    later = [a for a in actions if a.due_at >= end_of_day]
    if not overdue and not due_today:
        return False
    return email_send_now(
        key=digest_key(member, day),
        kind="digest",
        to=member.user.email,
        template="digest-morning",
        org=org,
        connection=connection,
        now=now,
        context={
            "member": member,
            "org": org,
            "actions": actions,
            "overdue": overdue,
            "due_today": due_today,
            "later": later,
        },
    )
