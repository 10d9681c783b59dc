"""Replies to an action's emails (the ``apply_inbound_to_actions`` sweep): the customer's new
words join the action's history and mark it "customer replied", its owner is told, and the
member who wrote to the customer gets the reply in their own inbox too.

The accounts floor stores each message as an event row first (accounts.inbound) with the
reply already cut down to its new text; this sweep claims the unprocessed replies addressed
to an action with SKIP LOCKED, handles each in its own savepoint and records a failure on the
row instead of stopping (docs/architecture.md). An auto-reply ("out of office") is kept as
the event row and does nothing else: it never notifies anyone and never reopens anything. A
reply to a closed action reopens nothing by itself either: staff decide, with one click.
"""

import email.utils
from datetime import datetime

from accounts.inbound import APPLY_BATCH, inbound_events_apply
from accounts.mail import email_queue
from accounts.models import InboundAddress, InboundEvent, Membership

from .models import Action, ActionEvent, LoopMessage

Kind = InboundEvent.Kind


def reply_address(action: Action) -> tuple[InboundAddress, str]:
    """Where a customer's reply to an email about this action goes, and its unsaved row."""
    return InboundAddress.derived(
        org=action.org, purpose=InboundAddress.Purpose.REPLY_ACTION, target=str(action.code)
    )


def reply_address_issue(action: Action) -> str:
    """The action's reply address, its row recorded (once): for each email to the customer."""
    row, address = reply_address(action)
    InboundAddress.objects.bulk_create([row], ignore_conflicts=True)
    return address


def _ours():
    return InboundEvent.objects.unprocessed().filter(
        kind__in=(Kind.REPLY, Kind.AUTO_REPLY),
        inbound_address__purpose=InboundAddress.Purpose.REPLY_ACTION,
    )


def inbound_actions_apply(*, now: datetime, batch: int = APPLY_BATCH) -> int:
    """Apply every unprocessed reply to an action. Returns how many were handled."""
    return inbound_events_apply(_ours(), _apply, now=now, batch=batch)


def _apply(event: InboundEvent, now: datetime) -> None:
    if event.kind == Kind.REPLY:
        _reply(event, now)
    # An auto-reply is kept as its event row and does nothing else.


def _reply(event: InboundEvent, now: datetime) -> None:
    address = event.inbound_address
    action = (
        Action.objects.select_related("org", "owner__user", "customer", "touchpoint")
        .filter(org_id=address.org_id, code=address.target)
        .first()
    )
    if action is None or not event.text.strip():
        return
    action_reply_record(action=action, event=event, now=now)


def action_reply_record(*, action: Action, event: InboundEvent, now: datetime) -> ActionEvent:
    """The customer's reply on the action: in its history (as the customer's words, shown
    first), marked on the action for the inbox, told to its owner, and forwarded to the
    member who last wrote to the customer, with the customer's address to reply to."""
    words = event.text.strip()
    reply = ActionEvent.objects.create(
        action=action,
        kind=ActionEvent.Kind.CUSTOMER_REPLY,
        text=words,
        data={"inbound_event": event.pk, "subject": event.subject[:200]},
        created_at=now,
    )
    Action.objects.filter(pk=action.pk).update(customer_replied_at=now)
    # Imported here: actions.services imports this module (for the reply address).
    from .services import action_hook

    action_hook(
        action,
        "customer.replied",
        now=now,
        customer={"email": action.customer.email if action.customer_id else _bare(event.sender)},
        text=words,
    )
    context = {"action": action, "words": words, "subject": event.subject}
    writer = _last_writer(action)
    if writer is not None:
        email_queue(
            key=f"reply-forward:{event.pk}:{writer.pk}",
            kind="reply_forward",
            to=writer.user.email,
            template="reply-forward",
            org=action.org,
            # Answering the forward answers the customer, as answering their email would.
            reply_to=event.sender,
            context={**context, "member": writer, "sender": event.sender},
        )
    for member in _told(action):
        if member == writer:
            continue  # the forward told them already
        email_queue(
            key=f"reply-notice:{event.pk}:{member.pk}",
            kind="reply_notice",
            to=member.user.email,
            template="reply-notice",
            org=action.org,
            context={**context, "member": member},
        )
    return reply


def _bare(address: str) -> str:
    return email.utils.parseaddr(address or "")[1].lower()


def _told(action: Action) -> list[Membership]:
    """Who hears of a reply: the action's owner, or every owner when nobody owns it."""
    if action.owner is not None:
        return [action.owner]
    return list(
        Membership.objects.filter(org_id=action.org_id, role=Membership.Role.OWNER)
        .select_related("user")
        .order_by("pk")
    )


def _last_writer(action: Action) -> Membership | None:
    message = (
        LoopMessage.objects.filter(action=action, sent_by__isnull=False)
        .select_related("sent_by__user")
        .order_by("-created_at", "-pk")
        .first()
    )
    return message.sent_by if message else None
