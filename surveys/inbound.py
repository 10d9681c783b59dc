"""What the mail that comes back means for customers (the ``apply_inbound_to_customers``
sweep): a bounce or complaint about an email to a customer marks that customer, and a reply
to a survey email becomes the customer's words on their response.

The accounts floor stores every inbound event as a row first (accounts.inbound); this sweep
claims the unprocessed ones that are surveys' business with SKIP LOCKED, handles each in its
own savepoint, and records a failure on the row instead of stopping (docs/architecture.md).
Replies to loop-closing emails are the actions floor's (actions.inbound).
"""

import logging
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import F, Q

from accounts.mail import email_queue
from accounts.models import InboundAddress, InboundEvent

from .models import MAX_TEXT, Customer, Invitation
from .services import response_save

log = logging.getLogger(__name__)

Kind = InboundEvent.Kind
BATCH = 100
GIVE_UP_AFTER = 5
# Temporary failures: three within this window mark the address bounced, as a permanent one
# does at once.
DEFERRALS_TO_BOUNCE = 3
DEFERRAL_WINDOW = timedelta(days=30)

DELIVERY_KINDS = (Kind.BOUNCED, Kind.REJECTED, Kind.DEFERRED, Kind.COMPLAINED, Kind.UNSUBSCRIBED)


def _ours():
    """The events this floor handles: delivery trouble of any email, and replies (or
    auto-replies) to a survey email's reply address."""
    survey_reply = Q(
        kind__in=(Kind.REPLY, Kind.AUTO_REPLY),
        inbound_address__purpose=InboundAddress.Purpose.REPLY_INVITATION,
    )
    return InboundEvent.objects.unprocessed().filter(Q(kind__in=DELIVERY_KINDS) | survey_reply)


def inbound_customers_apply(*, now: datetime, batch: int = BATCH) -> int:
    """Apply every unprocessed event that concerns customers. Returns how many were handled."""
    handled = 0
    while True:
        with transaction.atomic():
            events = list(
                _ours()
                .select_for_update(skip_locked=True, of=("self",))
                .select_related("outgoing", "inbound_address")
                .order_by("received_at", "pk")[:batch]
            )
            for event in events:
                _apply_one(event, now)
        handled += len(events)
        if len(events) < batch:
            return handled


def _apply_one(event: InboundEvent, now: datetime) -> None:
    try:
        with transaction.atomic():
            if event.kind in DELIVERY_KINDS:
                _delivery_trouble(event, now)
            elif event.kind == Kind.REPLY:
                _survey_reply(event, now)
            # An auto-reply to a survey email ("I'm away until Monday") is kept, never words.
    except Exception as exc:  # this event's problem, not the sweep's: record it, go on
        log.exception("Inbound event %s could not be applied", event.pk)
        event.attempts += 1
        event.last_error = f"{exc.__class__.__name__}: {exc}"[:2000]
        done = now if event.attempts >= GIVE_UP_AFTER else None
        InboundEvent.objects.filter(pk=event.pk).update(
            attempts=F("attempts") + 1, last_error=event.last_error, processed_at=done
        )
        return
    InboundEvent.objects.filter(pk=event.pk).update(processed_at=now)


def _customer_for(event: InboundEvent) -> Customer | None:
    """The customer the trouble is about: the recipient of the email it reports on."""
    address = event.outgoing.to if event.outgoing_id else event.recipient
    org_id = event.org_id or (event.outgoing.org_id if event.outgoing_id else None)
    if not address or org_id is None:
        return None
    return Customer.objects.filter(org_id=org_id, email__iexact=address).first()


def _delivery_trouble(event: InboundEvent, now: datetime) -> None:
    customer = _customer_for(event)
    if customer is None:
        return  # an email to a member, or to someone no longer a customer
    changes = {}
    if event.kind in (Kind.BOUNCED, Kind.REJECTED) or (
        event.kind == Kind.DEFERRED and _deferrals(event, customer, now) >= DEFERRALS_TO_BOUNCE
    ):
        changes["bounced_at"] = customer.bounced_at or now
    if event.kind in (Kind.COMPLAINED, Kind.UNSUBSCRIBED):
        # Marking it as spam is the strongest "don't ask me again" there is.
        changes["opted_out_at"] = customer.opted_out_at or now
    if changes:
        Customer.objects.filter(pk=customer.pk).update(**changes)


def _deferrals(event: InboundEvent, customer: Customer, now: datetime) -> int:
    return (
        InboundEvent.objects.filter(kind=Kind.DEFERRED, received_at__gte=now - DEFERRAL_WINDOW)
        .filter(Q(outgoing__to__iexact=customer.email) | Q(recipient__iexact=customer.email))
        .filter(Q(org_id=customer.org_id) | Q(outgoing__org_id=customer.org_id))
        .count()
    )


def _survey_reply(event: InboundEvent, now: datetime) -> None:
    """The customer answered the survey email itself: their words join their response (a
    new response if they had not answered), which routes like any other."""
    address = event.inbound_address
    invitation = (
        Invitation.objects.select_related("customer", "org")
        .filter(org_id=address.org_id, code=address.target)
        .first()
    )
    if invitation is None or not event.text.strip():
        return
    response = getattr(invitation, "response", None)
    earlier = (response.verbatim or "").strip() if response is not None else ""
    words = f"{earlier}\n\n{event.text.strip()}" if earlier else event.text.strip()
    words = words[:MAX_TEXT]
    existing = {a.question_id: a for a in response.answers.all()} if response else {}
    response_save(invitation=invitation, answers={}, existing=existing, verbatim=words, now=now)
    org = invitation.org
    if org.reply_to:
        # The business asked for customers' replies at its own address: it gets them too,
        # ready to answer the customer directly.
        email_queue(
            key=f"survey-reply-forward:{event.pk}",
            kind="survey_reply_forward",
            to=org.reply_to,
            template="survey-reply-forward",
            org=org,
            reply_to=event.sender,
            context={"customer": invitation.customer, "words": event.text.strip()},
        )
