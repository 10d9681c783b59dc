"""Every change to an action goes through these functions, and each one leaves an ActionEvent
(who, when, what) in the action's history. Nothing here deletes history."""

from contextlib import contextmanager
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import dateformat, timezone, translation
from django.utils.translation import gettext

from accounts.hooks import org_event_record, org_listens, site_url
from accounts.mail import email_queue
from accounts.models import Membership
from accounts.text import text_storable
from surveys.models import Customer, Response

from . import deadlines, wording
from .durations import duration_words
from .inbound import reply_address_issue
from .models import (
    Action,
    ActionEvent,
    ActionResponse,
    Cause,
    FollowUp,
    LoopMessage,
    ReviewOffer,
    RoutingRule,
    Tag,
)

REMINDER_LEAD = timedelta(hours=24)
REOPEN_DEADLINE_DAYS = 2
HOLD_REASON = "Earlier feedback is still being answered."
# The longest note, resolution, loop message or customer comment kept.
TEXT_LIMIT = 5000


class ActionError(ValueError):
    """A change that can't be made, with a message a member can read."""


def _event(action, kind, *, actor=None, text="", data=None, now=None) -> ActionEvent:
    return ActionEvent.objects.create(
        action=action,
        kind=kind,
        actor=actor,
        text=text,
        data=data or {},
        created_at=now or timezone.now(),
    )


def _schedule_notices(action: Action, now: datetime) -> None:
    """Set the reminder and escalation times for the action's current deadline, and clear the
    "sent" marks: a new promise earns its own reminder, overdue notice and escalation."""
    action.reminder_due_at = deadlines.reminder_time(
        now=now, due_at=action.due_at, lead=REMINDER_LEAD
    )
    action.escalate_at = deadlines.escalation_time(action.due_at, action.org)
    action.reminder_sent_at = action.overdue_sent_at = action.escalated_at = None


# The deadline's fields: what moving it (or resuming a paused clock) saves.
NOTICE_FIELDS = [
    "due_at",
    "first_due_at",
    "reminder_due_at",
    "escalate_at",
    "reminder_sent_at",
    "overdue_sent_at",
    "escalated_at",
]


def customer_hold_refresh(*, customer_ids) -> None:
    """Hold surveys for customers with an open action (their own or one their response is
    linked to), and release the others: nobody is asked again before they've heard back."""
    customer_ids = set(customer_ids)
    if not customer_ids:
        return
    held = set(
        Customer.objects.filter(pk__in=customer_ids)
        .filter(
            Q(actions__status__in=Action.OPEN_STATUSES)
            | Q(responses__action_link__action__status__in=Action.OPEN_STATUSES)
        )
        .values_list("pk", flat=True)
    )
    if held:
        Customer.objects.filter(pk__in=held).update(
            survey_hold=True, survey_hold_reason=HOLD_REASON
        )
    released = customer_ids - held
    if released:
        Customer.objects.filter(pk__in=released, survey_hold=True).update(
            survey_hold=False, survey_hold_reason=""
        )


def _customer_ids(action: Action) -> set[int]:
    ids = set(action.links.values_list("response__customer_id", flat=True))
    ids.add(action.customer_id)
    return ids


def _owner_email(action: Action, *, key: str, kind: str, template: str, extra=None) -> None:
    """Queue an email about the action to its owner (a row; the outbox sweep sends it)."""
    if action.owner is None:
        return
    email_queue(
        key=key,
        kind=kind,
        to=action.owner.user.email,
        template=template,
        org=action.org,
        context={"action": action, "member": action.owner, **(extra or {})},
    )


# Opening an action (``routing`` decides which rule, owner and deadline) -------------------


def action_open(
    *,
    response: Response,
    rule: RoutingRule,
    owner: Membership | None,
    due_at: datetime,
    words: str,
    summary: str,
    now: datetime,
) -> Action:
    """Open the action ``rule`` asks for on ``response``: the row, its link to the response,
    its history, the owner's email (a row in the outbox) and the customer's survey hold."""
    action = Action(
        org=response.org,
        kind=rule.kind,
        owner=owner,
        customer=response.customer,
        touchpoint=response.invitation.interaction.touchpoint,
        response=response,
        rule=rule if rule.pk else None,
        words=words,
        summary=summary,
        created_at=now,
        updated_at=now,
        due_at=due_at,
        first_due_at=due_at,
    )
    _schedule_notices(action, now)
    action.save()
    ActionResponse.objects.create(action=action, response=response, linked_at=now)
    _event(
        action,
        ActionEvent.Kind.CREATED,
        text=f"Matched the rule: {rule}.",
        now=now,
        data={"rule": str(rule.code) if rule.pk else "default"},
    )
    if action.owner is not None:
        _event(
            action,
            ActionEvent.Kind.ASSIGNED,
            text=action.owner.display_name,
            now=now,
            data={"owner": str(action.owner.code)},
        )
        _owner_email(
            action, key=f"action-new:{action.pk}", kind="action_new", template="action-new"
        )
    customer_hold_refresh(customer_ids=[response.customer_id])
    action_hook(action, "action.created", now=now)
    return action


def action_response_changed(
    *, action: Action, response: Response, words: str, summary: str, now: datetime
) -> None:
    """The customer changed their answers: the action's words follow the response that opened
    it, and the history keeps what they say now."""
    if response.pk == action.response_id:
        action.words = words
        action.summary = summary
        action.updated_at = now
        action.save(update_fields=["words", "summary", "updated_at"])
    _event(
        action,
        ActionEvent.Kind.RESPONSE_CHANGED,
        text=words,
        now=now,
        data={"summary": summary},
    )


# Working an action -----------------------------------------------------------------------


def _locked(action: Action) -> Action:
    """The action's row as it is now, locked until the transaction ends.

    A page loads the action without a lock, and another request may change it before this
    one is applied (a close while someone changes the status): every change re-reads the row
    under the lock and checks and applies itself to that fresh copy, never the stale one.
    """
    return (
        Action.objects.select_for_update(of=("self",))
        .select_related("org", "owner__user", "customer", "touchpoint", "closed_by__user")
        .get(pk=action.pk)
    )


def _copy_back(fresh: Action, action: Action) -> None:
    """Leave the caller's instance as the row now is (views and tests keep using it)."""
    if fresh is action:
        return
    for field in Action._meta.concrete_fields:
        setattr(action, field.attname, getattr(fresh, field.attname))
    for name in ("owner", "closed_by"):
        if Action._meta.get_field(name).is_cached(fresh):
            setattr(action, name, getattr(fresh, name))


@contextmanager
def _changing(action: Action):
    """One change to an action: atomic, on the freshly locked row (so a status change is
    never saved without its history event, and a refused change leaves nothing behind)."""
    with transaction.atomic():
        fresh = _locked(action)
        yield fresh
    _copy_back(fresh, action)


def _touch(action: Action, now, *fields) -> None:
    action.updated_at = now
    action.save(update_fields=["updated_at", *fields])


def _require_open(action: Action) -> None:
    if not action.is_open:
        raise ActionError(gettext("This action is closed."))


def action_note_add(*, action: Action, actor: Membership, text: str, now: datetime) -> ActionEvent:
    text = text_storable(text, limit=TEXT_LIMIT)
    if not text:
        raise ActionError(gettext("Write a note first."))
    with _changing(action) as action:
        event = _event(action, ActionEvent.Kind.NOTE, actor=actor, text=text, now=now)
        _touch(action, now)
    return event


def action_reassign(
    *, action: Action, actor: Membership, owner: Membership, reason: str = "", now: datetime
) -> None:
    if owner.org_id != action.org_id:
        raise ActionError(gettext("Choose someone in your business."))
    with _changing(action) as action:
        if owner.pk == action.owner_id:
            return
        before = action.owner
        action.owner = owner
        _touch(action, now, "owner")
        event = _event(
            action,
            ActionEvent.Kind.REASSIGNED,
            actor=actor,
            now=now,
            text=text_storable(reason, limit=1000),
            data={"from": before.display_name if before else "", "to": owner.display_name},
        )
        action_hook(action, "action.reassigned", now=now, previous_owner=_hook_member(before))
        if owner.pk != actor.pk:
            _owner_email(
                action,
                key=f"action-assigned:{action.pk}:{event.pk}",
                kind="action_assigned",
                template="action-assigned",
                extra={"actor": actor},
            )


def action_deadline_change(
    *,
    action: Action,
    actor: Membership,
    due_at: datetime,
    reason: str,
    customer_reason: str = "",
    now: datetime,
) -> ActionEvent | None:
    """Move the promise. A deadline is a promise, so the reason is required and kept; the
    customer-facing reason (``customer_reason``) is what their status page shows beside the
    move, and what a note to them starts from (``late_note_send``). Returns the history event,
    or None when the deadline already is ``due_at`` (a double submit moves it once)."""
    reason = text_storable(reason, limit=1000)
    customer_reason = text_storable(customer_reason, limit=300)
    if not reason:
        raise ActionError(gettext("Say why the deadline changes: it's a promise."))
    if due_at <= now:
        raise ActionError(gettext("The new deadline must be in the future."))
    with _changing(action) as action:
        _require_open(action)
        if action.due_at == due_at:
            return None
        before = action.due_at
        data = {"from": before.isoformat(), "to": due_at.isoformat()}
        if customer_reason:
            data["customer_reason"] = customer_reason
        if action.paused_at:
            # The new deadline replaces the paused one, but the time already spent waiting on
            # the customer still moves the first promise on: that wait was theirs, not ours.
            data.update(_first_promise_shift(action, now - action.paused_at))
            action.paused_at = now
        action.due_at = due_at
        _schedule_notices(action, now)
        _touch(action, now, "paused_at", *NOTICE_FIELDS)
        return _event(
            action,
            ActionEvent.Kind.DEADLINE_CHANGED,
            actor=actor,
            text=reason,
            now=now,
            data=data,
        )


def _first_promise_shift(action: Action, waited: timedelta) -> dict:
    """Move the first promise on by ``waited`` (time spent waiting on the customer); return
    what the history keeps of it, so the date first given can always be read back."""
    before = action.first_due_at
    action.first_due_at = before + waited
    return {"first_from": before.isoformat(), "first_to": action.first_due_at.isoformat()}


def _resume_clock(action: Action, actor, now) -> None:
    """Waiting on the customer paused the clock: move the deadline, the first promise and the
    notices on by the time spent waiting (a pause is not a broken or moved promise)."""
    if action.paused_at is None:
        return
    paused = now - action.paused_at
    before = action.due_at
    action.due_at += paused
    for field in ("reminder_due_at", "escalate_at"):
        if getattr(action, field) is not None:
            setattr(action, field, getattr(action, field) + paused)
    shift = _first_promise_shift(action, paused)
    action.paused_at = None
    _event(
        action,
        ActionEvent.Kind.DEADLINE_CHANGED,
        actor=actor,
        now=now,
        text=f"The clock was paused for {duration_words(paused)} while waiting on the customer.",
        data={
            "from": before.isoformat(),
            "to": action.due_at.isoformat(),
            "paused": True,
            **shift,
        },
    )


def action_status_set(*, action: Action, actor: Membership, status: str, now: datetime) -> None:
    """Open, in progress or waiting on the customer (closing has its own function)."""
    if status not in Action.OPEN_STATUSES:
        raise ActionError(gettext("Close an action with “what we did”."))
    with _changing(action) as action:
        _require_open(action)
        if status == action.status:
            return
        before = action.status
        if before == Action.Status.WAITING:
            _resume_clock(action, actor, now)
        if status == Action.Status.WAITING:
            action.paused_at = now
        action.status = status
        if action.first_reply_at is None and status != Action.Status.OPEN:
            action.first_reply_at = now
        _touch(action, now, "status", "paused_at", "first_reply_at", *NOTICE_FIELDS)
        _event(
            action,
            ActionEvent.Kind.STATUS_CHANGED,
            actor=actor,
            now=now,
            text=Action.Status(status).label,
            data={"from": before, "to": status},
        )


def action_tags_set(*, action: Action, actor: Membership, names: list[str], now: datetime) -> None:
    wanted = []
    for name in names:
        name = text_storable(name, limit=40)
        if name and name.casefold() not in {w.casefold() for w in wanted}:
            wanted.append(name)
    with _changing(action) as action:
        tags = []
        for name in wanted[:10]:
            tag = Tag.objects.filter(org=action.org, name__iexact=name).first()
            tags.append(tag or Tag.objects.get_or_create(org=action.org, name=name)[0])
        before = sorted(t.name for t in action.tags.all())
        action.tags.set(tags)
        after = sorted(t.name for t in tags)
        if before != after:
            _touch(action, now)
            _event(
                action,
                ActionEvent.Kind.TAGGED,
                actor=actor,
                now=now,
                text=", ".join(after),
                data={"from": before, "to": after},
            )


def action_close(
    *,
    action: Action,
    actor: Membership,
    status: str,
    resolution: str,
    cause: Cause | None = None,
    now: datetime,
) -> None:
    """Close as done or won't do. The customer will read ``resolution``, so it's required.
    ``cause`` is why it happened, from the business's own list (the dashboard counts them)."""
    if status not in Action.CLOSED_STATUSES:
        raise ActionError(gettext("Close as done or won't do."))
    if cause is not None and cause.org_id != action.org_id:
        raise ActionError(gettext("Choose a cause from your business's list."))
    resolution = text_storable(resolution, limit=TEXT_LIMIT)
    if not resolution:
        raise ActionError(
            gettext("Say what you did (or why not): the customer will read it.")
            if status == Action.Status.DONE
            else gettext("Say why not: the customer will read it.")
        )
    with _changing(action) as action:
        _require_open(action)
        if action.status == Action.Status.WAITING:
            _resume_clock(action, actor, now)
        before = action.status
        action.status = status
        action.resolution = resolution
        action.closed_at = now
        action.closed_by = actor
        action.closed_on_time = action.closes_on_time(now)
        if action.first_reply_at is None:
            action.first_reply_at = now
        if cause is not None:
            action.cause = cause
        _touch(
            action,
            now,
            "status",
            "resolution",
            "closed_at",
            "closed_by",
            "closed_on_time",
            "first_reply_at",
            "paused_at",
            "cause",
            *NOTICE_FIELDS,
        )
        data = {"from": before, "to": status, "on_time": action.closed_on_time}
        if cause is not None:
            data["cause"] = cause.name
        _event(action, ActionEvent.Kind.CLOSED, actor=actor, now=now, text=resolution, data=data)
        customer_hold_refresh(customer_ids=_customer_ids(action))
        action_hook(action, "action.closed", now=now)


def action_reopen(*, action: Action, actor: Membership | None, reason: str, now: datetime) -> None:
    """Open a closed action again with a fresh deadline (and fresh notices)."""
    with _changing(action) as action:
        if action.is_open:
            return
        before = action.status
        action.status = Action.Status.OPEN
        action.closed_at = None
        action.closed_by = None
        action.closed_on_time = None
        action.reopened_count += 1
        due_before = action.due_at
        # A fresh deadline to work to, but ``first_due_at`` stays: the customer was promised a
        # fix by then, and a fix they say didn't work is not a promise kept. Against the first
        # promise a reopened action counts as kept only if it is done again by that date.
        action.due_at = deadlines.add_working_days(now, REOPEN_DEADLINE_DAYS, action.org)
        _schedule_notices(action, now)
        _touch(
            action,
            now,
            "status",
            "closed_at",
            "closed_by",
            "closed_on_time",
            "reopened_count",
            *NOTICE_FIELDS,
        )
        _event(
            action,
            ActionEvent.Kind.REOPENED,
            actor=actor,
            now=now,
            text=text_storable(reason, limit=1000),
            data={
                "from": before,
                "due_from": due_before.isoformat(),
                "due_to": action.due_at.isoformat(),
            },
        )
        customer_hold_refresh(customer_ids=_customer_ids(action))


def action_merge(*, action: Action, actor: Membership, other: Action, now: datetime) -> None:
    """Move every response of ``other`` onto ``action`` (the same problem, told by several
    customers) and close ``other`` as merged. Closing ``action`` then tells them all."""
    if other.org_id != action.org_id or other.pk == action.pk:
        raise ActionError(gettext("Choose another action of your business."))
    with transaction.atomic():
        # Both rows locked, always in the same order, so two merges at once can't deadlock.
        first, second = sorted([action, other], key=lambda a: a.pk)
        locked = {a.pk: a for a in (_locked(first), _locked(second))}
        _action_merge(locked[action.pk], actor, locked[other.pk], now)
    _copy_back(locked[action.pk], action)
    _copy_back(locked[other.pk], other)


def _action_merge(action: Action, actor: Membership, other: Action, now) -> None:
    _require_open(action)
    moved = list(other.links.select_related("response__customer"))
    ActionResponse.objects.filter(action=other).update(action=action, linked_at=now)
    for link in moved:
        _event(
            action,
            ActionEvent.Kind.LINKED,
            actor=actor,
            now=now,
            text=f"Feedback from {link.response.customer.public_name} linked "
            f"(merged from another action).",
            data={"response": link.response_id, "merged": str(other.code)},
        )
    if other.is_open and other.first_due_at < action.first_due_at:
        # The other action's customers were promised an earlier date, and they now wait for
        # this action: its first promise becomes theirs, so merging never hides a promise
        # about to break (the merged action itself no longer counts; see
        # ``promise_counted_condition``).
        shift = {
            "first_from": action.first_due_at.isoformat(),
            "first_to": other.first_due_at.isoformat(),
        }
        action.first_due_at = other.first_due_at
        action.save(update_fields=["first_due_at"])
        _event(
            action,
            ActionEvent.Kind.DEADLINE_CHANGED,
            actor=actor,
            now=now,
            text="The first promise is now the earlier one of the merged action.",
            data={"from": action.due_at.isoformat(), "to": action.due_at.isoformat(), **shift},
        )
    if other.is_open:
        other.status = Action.Status.WONT_DO
        other.closed_at = now
        other.closed_by = actor
        other.resolution = "Merged into another action about the same thing."
    other.merged_into = action
    _touch(other, now, "status", "closed_at", "closed_by", "resolution", "merged_into")
    _event(
        other,
        ActionEvent.Kind.CLOSED,
        actor=actor,
        now=now,
        text="Merged into another action about the same thing.",
        data={"merged_into": str(action.code)},
    )
    _touch(action, now)
    customer_hold_refresh(customer_ids=_customer_ids(action) | {other.customer_id})


def action_link_response(
    *, action: Action, actor: Membership, response: Response, now: datetime
) -> None:
    """Link a response that opened no action of its own to this action."""
    if response.org_id != action.org_id:
        raise ActionError(gettext("Choose feedback of your business."))
    with _changing(action) as action:
        _require_open(action)
        if ActionResponse.objects.filter(response=response).exists():
            raise ActionError(gettext("That feedback already belongs to an action."))
        ActionResponse.objects.create(action=action, response=response, linked_at=now)
        _event(
            action,
            ActionEvent.Kind.LINKED,
            actor=actor,
            now=now,
            text=f"Feedback from {response.customer.public_name} linked.",
            data={"response": response.pk},
        )
        _touch(action, now)
        customer_hold_refresh(customer_ids=[response.customer_id])


# Closing the loop ------------------------------------------------------------------------


def draft_language(action: Action) -> str:
    """The language a draft to the customer is written in: theirs when Heard speaks it, else
    the business's default (Organisation.language_for)."""
    return action.org.language_for(action.customer.locale)


def loop_message_draft(*, action: Action, member: Membership) -> tuple[str, str]:
    """A short, human first draft in the customer's language (``draft_language``): sorry (for
    a problem), what we did, who did it."""
    org = action.org
    with translation.override(draft_language(action)):
        subject, body = wording.loop_draft(
            kind=action.kind,
            wont_do=action.status == Action.Status.WONT_DO,
            resolution=action.resolution,
            signature=f"{member.first_name}\n{org.name}",
            business=org.name,
        )
    return subject[:200], body


def loop_recipients(action: Action) -> list[Response]:
    """The linked responses whose customers haven't yet been told about this closing."""
    links = action.links.select_related("response__customer", "response__invitation")
    told = set()
    if action.closed_at:
        told = set(
            action.loop_messages.filter(created_at__gte=action.closed_at).values_list(
                "response_id", flat=True
            )
        )
    return [
        link.response
        for link in links
        if link.response_id not in told
        and link.response.customer.bounced_at is None
        # An answer through a public link whose customer gave (or confirmed) no address has
        # nobody to write to: the action still closes, the loop just has no email.
        and link.response.customer.email
    ]


def loop_message_send(
    *, action: Action, actor: Membership, subject: str, body: str, now: datetime
) -> list[LoopMessage]:
    """Queue the loop-closing email to every customer linked to the closed action, from the
    business with reply-to the member, each ending "Did this sort it out? Yes / No"."""
    subject, body = text_storable(subject, limit=200), text_storable(body, limit=TEXT_LIMIT)
    if not subject or not body:
        raise ActionError(gettext("Write the message (and its subject) first."))
    messages = []
    # Under the action's lock, and the recipients worked out afresh: a double-click's second
    # send waits for the first, then finds everyone already told and sends nothing.
    with _changing(action) as action:
        if action.is_open:
            raise ActionError(gettext("Close the action before telling the customer."))
        closing = int(action.closed_at.timestamp() * 1_000_000)
        for response in loop_recipients(action):
            message = LoopMessage.objects.create(
                action=action,
                response=response,
                subject=subject,
                body=body,
                sent_by=actor,
                created_at=now,
                queued_at=now,
            )
            # One email per customer per closing, whatever else goes wrong.
            email_queue(
                key=f"loop:{action.pk}:{response.pk}:{closing}",
                kind="loop_message",
                to=response.customer.email,
                template="loop-message",
                org=action.org,
                # The customer's answer comes back to the action (actions.inbound), which
                # forwards it to this member too.
                reply_to=reply_address_issue(action),
                context={
                    "message": message,
                    "customer": response.customer,
                    "response": response,
                    "token": response.invitation.token,
                    "sender": actor,
                },
            )
            _event(
                action,
                ActionEvent.Kind.EMAIL_OUT,
                actor=actor,
                now=now,
                text=f"Told {response.customer.public_name} what we did.",
                data={"loop_message": str(message.code)},
            )
            review_offer_schedule(message=message, now=now)
            messages.append(message)
        if messages:
            _touch(action, now)
            action_hook(action, "loop.sent", now=now, message={"subject": subject, "body": body})
    return messages


def loop_outcome_record(*, message: LoopMessage, outcome: str, comment: str = "", now: datetime):
    """The customer's answer to "Did this sort it out?". The first answer stands; a No reopens
    the action with their words and tells its owner."""
    if outcome not in LoopMessage.Outcome.values:
        raise ActionError("Choose yes or no.")
    with transaction.atomic():
        claimed = LoopMessage.objects.filter(pk=message.pk, outcome="").update(
            outcome=outcome,
            outcome_at=now,
            outcome_comment=text_storable(comment, limit=TEXT_LIMIT),
        )
        if not claimed:
            return False
        message.refresh_from_db()
        action = Action.objects.select_related("org", "owner__user").get(pk=message.action_id)
        name = message.response.customer.public_name
        said = "Yes, it's sorted." if outcome == LoopMessage.Outcome.YES else "No, not sorted."
        _event(
            action,
            ActionEvent.Kind.CUSTOMER_REPLY,
            now=now,
            text=f"{name}: {said} {message.outcome_comment}".strip(),
            data={"outcome": outcome, "loop_message": str(message.code)},
        )
        if outcome == LoopMessage.Outcome.YES:
            follow_up_schedule(message=message, now=now)
        if outcome == LoopMessage.Outcome.NO:
            reason = f"{name} said it isn't sorted: {message.outcome_comment}"
            action_reopen(action=action, actor=None, now=now, reason=reason)
            _owner_email(
                action,
                key=f"action-reopened:{action.pk}:{message.pk}",
                kind="action_reopened",
                template="action-reopened",
                extra={"message": message, "customer_name": name},
            )
        action.refresh_from_db()
        action_hook(
            action, "loop.answered", now=now, outcome=outcome, comment=message.outcome_comment
        )
    return True


# Telling the customer before a promise breaks ------------------------------------------


def late_note_recipients(action: Action) -> list[Response]:
    """The customers linked to the action that may be written to (an address, not opted out,
    not bounced)."""
    links = action.links.select_related("response__customer", "response__invitation")
    return [link.response for link in links if Action.may_write_to(link.response.customer)]


def late_note_draft(*, action: Action, change: ActionEvent, member: Membership) -> tuple[str, str]:
    """A short first draft from the member's own customer-facing reason for ``change``, in the
    customer's language; the member edits it, previews it and sends it (nothing goes without
    their words)."""
    org = action.org
    reason = change.data.get("customer_reason", "").rstrip(".")
    with translation.override(draft_language(action)):
        subject, body = wording.late_draft(
            reason=reason,
            new_date=dateformat.format(timezone.localtime(action.due_at, org.tz), "l j F"),
            signature=f"{member.first_name}\n{org.name}",
            business=org.name,
        )
    return subject[:200], body


def late_note_sent(change: ActionEvent) -> bool:
    """Whether a note about this deadline change has gone to the customers already."""
    return change.action.events.filter(
        kind=ActionEvent.Kind.EMAIL_OUT, data__late_note=change.pk
    ).exists()


def late_note_send(
    *,
    action: Action,
    change: ActionEvent,
    actor: Membership,
    subject: str,
    body: str,
    now: datetime,
) -> list[Response]:
    """Queue a member's note about a moved deadline to each customer of the action who may be
    written to, once per deadline change: a double submit or a retry finds it sent (under the
    action's lock) and the outbox keys refuse a second copy anyway. Returns the responses
    whose customers were written to now."""
    subject, body = text_storable(subject, limit=200), text_storable(body, limit=TEXT_LIMIT)
    if not subject or not body:
        raise ActionError(gettext("Write the note (and its subject) first."))
    if change.action_id != action.pk or change.kind != ActionEvent.Kind.DEADLINE_CHANGED:
        raise ActionError(gettext("Choose a deadline change of this action."))
    told = []
    with _changing(action) as action:
        _require_open(action)
        if late_note_sent(change):
            return []
        for response in late_note_recipients(action):
            email_queue(
                key=f"late:{action.pk}:{change.pk}:{response.pk}",
                kind="late_note",
                to=response.customer.email,
                template="late-note",
                org=action.org,
                # The customer's answer comes back to the action (actions.inbound), which
                # forwards it to this member too.
                reply_to=reply_address_issue(action),
                context={
                    "subject": subject,
                    "body": body,
                    "customer": response.customer,
                    "response": response,
                    "token": response.invitation.token,
                    "sender": actor,
                },
            )
            told.append(response)
        if told:
            names = ", ".join(r.customer.public_name for r in told)
            _event(
                action,
                ActionEvent.Kind.EMAIL_OUT,
                actor=actor,
                now=now,
                text=f"Told {names} about the new date: {body}",
                data={"late_note": change.pk, "subject": subject},
            )
            _touch(action, now)
    return told


def response_consent_withdraw(*, response: Response, now: datetime) -> bool:
    """The customer no longer wants to be quoted. Returns False when it was already withdrawn."""
    changed = Response.objects.filter(pk=response.pk, consent_withdrawn_at=None).update(
        consent_withdrawn_at=now
    )
    if changed:
        response.consent_withdrawn_at = now
        link = ActionResponse.objects.filter(response=response).select_related("action").first()
        if link:
            _event(
                link.action,
                ActionEvent.Kind.CUSTOMER_REPLY,
                now=now,
                text=f"{response.customer.public_name} withdrew consent to be quoted.",
                data={"consent_withdrawn": True},
            )
    return bool(changed)


# The wall (feedback publishes; the history is written here) ------------------------------


def action_wall_change_record(
    *,
    action_id: int,
    published: bool,
    actor: Membership,
    quote: str,
    data: dict,
    now: datetime,
) -> ActionEvent:
    """Record in the action's history that a customer's words went on the public wall
    (``published``) or came off it. ``data`` carries the entry and the original and shown
    words, so the history keeps what the customer really said."""
    return ActionEvent.objects.create(
        action_id=action_id,
        kind=ActionEvent.Kind.PUBLISHED if published else ActionEvent.Kind.UNPUBLISHED,
        actor=actor,
        text=quote if published else "",
        data=data,
        created_at=now,
    )


# Telling the business's other tools (accounts.hooks) -----------------------------------------


def _hook_member(member: Membership | None) -> dict | None:
    return {"name": member.display_name, "email": member.user.email} if member else None


def action_hook(action: Action, type: str, *, now: datetime, **data) -> None:
    """Record event ``type`` about ``action`` for webhooks and chat, in the caller's
    transaction; ``data`` joins the ``action`` object (README, "Webhooks and chat")."""
    if not org_listens(action.org):
        return
    touchpoint = action.touchpoint
    payload = {
        "action": {
            "code": str(action.code),
            "url": site_url(action.get_absolute_url()),
            "kind": action.kind,
            "status": action.status,
            "words": action.words,
            "summary": action.summary,
            "owner": _hook_member(action.owner),
            "due_at": action.due_at,
            "created_at": action.created_at,
            "closed_at": action.closed_at,
            "resolution": action.resolution,
            "touchpoint": touchpoint
            and {"code": str(touchpoint.code), "slug": touchpoint.slug, "name": touchpoint.name},
        },
        **data,
    }
    org_event_record(org=action.org, type=type, payload=payload, now=now)


# Recurring problems: the business's own list of causes ------------------------------------


def _cause_name(name: str) -> str:
    name = " ".join(text_storable(name, limit=60).split())
    if not name:
        raise ActionError(gettext("Name the cause."))
    return name


def cause_create(*, org, name: str, now: datetime) -> Cause:
    """Add a cause to the business's list; a retired one of the same name comes back."""
    name = _cause_name(name)
    existing = Cause.objects.filter(org=org, name__iexact=name).first()
    if existing is not None:
        if existing.active:
            raise ActionError(gettext("That cause is already on the list."))
        existing.active = True
        existing.save(update_fields=["active"])
        return existing
    return Cause.objects.create(org=org, name=name, created_at=now)


def cause_update(*, cause: Cause, name: str, active: bool, now: datetime) -> Cause:
    """Rename a cause (closed actions follow the new name) or retire it: a retired cause is
    no longer offered when closing, and the problems it explained keep it. ``now`` is the
    time of the change (causes keep no history of their own)."""
    name = _cause_name(name)
    clash = Cause.objects.filter(org_id=cause.org_id, name__iexact=name).exclude(pk=cause.pk)
    if clash.exists():
        raise ActionError(gettext("Another cause already has that name."))
    cause.name, cause.active = name, active
    cause.save(update_fields=["name", "active"])
    return cause


# Did it stay fixed? (actions.followups sends them) ------------------------------------------


def follow_up_schedule(*, message: LoopMessage, now: datetime) -> FollowUp | None:
    """After a Yes to "Did this sort it out?", schedule "Is it still sorted?" for the weeks
    the customer's touchpoint asks (none when it's 0, the default). One per loop message."""
    response = message.response
    touchpoint = response.invitation.interaction.touchpoint
    weeks = touchpoint.stay_fixed_weeks if touchpoint else 0
    if not weeks:
        return None
    follow_up, _ = FollowUp.objects.get_or_create(
        loop_message=message,
        defaults={
            "org_id": response.org_id,
            "action_id": message.action_id,
            "response": response,
            "due_at": now + timedelta(weeks=weeks),
            "created_at": now,
        },
    )
    return follow_up


def follow_up_answer_record(
    *, follow_up: FollowUp, answer: str, comment: str = "", now: datetime
) -> bool:
    """The customer's answer to "Is it still sorted?", from a person's press (a POST). The
    first answer stands (returns False for a second one); a No reopens the action with their
    words and tells its owner."""
    if answer not in FollowUp.Answer.values:
        raise ActionError("Choose yes or no.")
    comment = text_storable(comment, limit=TEXT_LIMIT)
    with transaction.atomic():
        claimed = FollowUp.objects.filter(pk=follow_up.pk, answered_at=None).update(
            answer=answer, answered_at=now, comment=comment
        )
        if not claimed:
            return False
        follow_up.refresh_from_db()
        action = Action.objects.select_related("org", "owner__user").get(pk=follow_up.action_id)
        name = follow_up.response.customer.public_name
        still = answer == FollowUp.Answer.YES
        said = "Still sorted." if still else "It came back: not sorted any more."
        _event(
            action,
            ActionEvent.Kind.CUSTOMER_REPLY,
            now=now,
            text=f"{name}: {said} {comment}".strip(),
            data={"follow_up": str(follow_up.code), "answer": answer},
        )
        if not still:
            reason = f"{name} says it came back: {comment}".rstrip(": ")
            action_reopen(action=action, actor=None, now=now, reason=reason)
            action.refresh_from_db()
            _owner_email(
                action,
                key=f"followup-reopened:{follow_up.pk}",
                kind="followup_reopened",
                template="followup-reopened",
                extra={"follow_up": follow_up, "customer_name": name},
            )
    return True


# Reviews, without gating (actions.reviews sends them) -------------------------------------

#: The review offer goes a day after the loop-closing message, whatever the answer.
REVIEW_OFFER_DELAY = timedelta(days=1)


def review_offer_schedule(*, message: LoopMessage, now: datetime) -> ReviewOffer:
    """Schedule the review offer that follows a loop-closing message. Every closed loop gets
    one, before (and whatever) the customer answers: offering it only to the happy ones would
    be review gating. The sweep decides at due time whether it goes (a link set by then, not
    offered before, the customer still reachable)."""
    offer, _ = ReviewOffer.objects.get_or_create(
        loop_message=message,
        defaults={
            "org_id": message.action.org_id,
            "customer_id": message.response.customer_id,
            "due_at": now + REVIEW_OFFER_DELAY,
            "created_at": now,
        },
    )
    return offer
