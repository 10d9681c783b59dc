"""What the mail that comes back means for customers (the ``apply_inbound_to_customers``
sweep): a bounce or complaint about an email to a customer marks that customer, a reply
to a survey email becomes the customer's words on their response, and a receipt BCC'd to a
touchpoint's intake address records an interaction (so a survey follows), or is held for an
owner when a stranger sent it.

The accounts floor stores every inbound event as a row first (accounts.inbound); this sweep
claims the unprocessed ones that are surveys' business with SKIP LOCKED, handles each in its
own savepoint, and records a failure on the row instead of stopping (docs/architecture.md).
Replies to loop-closing emails are the actions floor's (actions.inbound).
"""

import email
import email.policy
import email.utils
import hashlib
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import Q
from django.db.models.functions import Lower

from accounts.inbound import APPLY_BATCH, inbound_events_apply
from accounts.mail import email_queue
from accounts.models import InboundAddress, InboundEvent, Membership

from .ingest import InteractionInput
from .models import MAX_TEXT, Customer, Interaction, Invitation, Touchpoint
from .services import interaction_record, response_save

Kind = InboundEvent.Kind
# Temporary failures: three within this window mark the address bounced, as a permanent one
# does at once.
DEFERRALS_TO_BOUNCE = 3
DEFERRAL_WINDOW = timedelta(days=30)

DELIVERY_KINDS = (Kind.BOUNCED, Kind.REJECTED, Kind.DEFERRED, Kind.COMPLAINED, Kind.UNSUBSCRIBED)

# What became of an intake message, in its event's ``status_code`` (an intake has no delivery
# status of its own): held for an owner, approved by one, or discarded by one. Empty once it
# was recorded on its own, or when there was nothing to record.
INTAKE_HELD = "held"
INTAKE_APPROVED = "approved"
INTAKE_DISCARDED = "discarded"
MAX_REFERENCE = 200


def _ours():
    """The events this floor handles: delivery trouble of any email, and replies (or
    auto-replies) to a survey email's reply address."""
    survey_reply = Q(
        kind__in=(Kind.REPLY, Kind.AUTO_REPLY),
        inbound_address__purpose=InboundAddress.Purpose.REPLY_INVITATION,
    )
    intake = Q(kind=Kind.INTAKE, inbound_address__purpose=InboundAddress.Purpose.INTAKE)
    return InboundEvent.objects.unprocessed().filter(
        Q(kind__in=DELIVERY_KINDS) | survey_reply | intake
    )


def inbound_customers_apply(*, now: datetime, batch: int = APPLY_BATCH) -> int:
    """Apply every unprocessed event that concerns customers. Returns how many were handled."""
    return inbound_events_apply(_ours(), _apply, now=now, related=("outgoing",), batch=batch)


def _apply(event: InboundEvent, now: datetime) -> None:
    if event.kind in DELIVERY_KINDS:
        _delivery_trouble(event, now)
    elif event.kind == Kind.REPLY:
        _survey_reply(event, now)
    elif event.kind == Kind.INTAKE:
        _intake(event, now)
    # An auto-reply to a survey email ("I'm away until Monday") is kept, never words.


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
    since = now - DEFERRAL_WINDOW
    if customer.bounce_cleared_at and customer.bounce_cleared_at > since:
        # An owner cleared the bounce: the deferrals before that are what they looked at.
        since = customer.bounce_cleared_at
    return (
        InboundEvent.objects.filter(kind=Kind.DEFERRED, received_at__gte=since)
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


# --- Intake: a receipt BCC'd to a touchpoint's address ----------------------------------------


def _intake(event: InboundEvent, now: datetime) -> None:
    touchpoint = _intake_touchpoint(event)
    if touchpoint is None:
        return
    found = _intake_parties(event, touchpoint)
    if found is None:
        return  # nobody outside the business to ask: a member's own copy, a forward
    customer, name, staff = found
    if staff is None and not touchpoint.intake_trusts(_bare(event.sender)):
        # A stranger can't make Heard email people: an owner approves it first.
        InboundEvent.objects.filter(pk=event.pk).update(status_code=INTAKE_HELD)
        return
    _intake_record(event, touchpoint, customer, name, staff, now)


def _intake_touchpoint(event: InboundEvent) -> Touchpoint | None:
    address = event.inbound_address
    if address is None:
        return None
    return (
        Touchpoint.objects.select_related("org")
        .filter(org_id=address.org_id, code=address.target, active=True)
        .first()
    )


def _bare(address: str) -> str:
    return email.utils.parseaddr(address or "")[1].strip().lower()


def _intake_parties(
    event: InboundEvent, touchpoint: Touchpoint
) -> tuple[str, str, Membership | None] | None:
    """(customer address, their name, the member who sent it or None), or None when the
    message names nobody outside the business.

    The customer is the first recipient of the original message, To before Cc, that is not a
    member and not one of Heard's own addresses; the intake address itself came as a BCC.
    """
    message = email.message_from_string(event.raw, policy=email.policy.default)
    members = {
        m.email_lower: m
        for m in Membership.objects.filter(org_id=touchpoint.org_id)
        .select_related("user")
        .annotate(email_lower=Lower("user__email"))
    }
    staff = members.get(_bare(event.sender))
    inbound_domain = settings.INBOUND_DOMAIN.lower()
    for header in ("To", "Cc"):
        try:
            values = [str(v) for v in message.get_all(header) or []]
        except Exception:  # a header the parser can't read is skipped, not fatal
            continue
        for name, address in email.utils.getaddresses(values):
            address = address.strip().lower()
            if not address or address in members:
                continue
            if address.rpartition("@")[2] == inbound_domain:
                continue
            try:
                validate_email(address)
            except ValidationError:
                continue
            return address, name.strip()[:150], staff
    return None


def _intake_reference(event: InboundEvent) -> str:
    """The Message-ID, so the same receipt delivered twice (or BCC'd to two touchpoints'
    addresses of one business) is one interaction."""
    message_id = event.dedupe_key.split(" ", 1)[0]
    if not message_id.startswith("<"):
        message_id = event.dedupe_key  # no Message-ID: the hash of its bytes stands for it
    reference = "email:" + message_id.strip("<>")
    if len(reference) > MAX_REFERENCE:
        reference = "email:sha256:" + hashlib.sha256(message_id.encode()).hexdigest()
    return reference


def _intake_record(event, touchpoint, customer, name, staff, now) -> Interaction:
    interaction, _created = interaction_record(
        org=touchpoint.org,
        item=InteractionInput(
            email=customer,
            touchpoint=touchpoint,
            name=name,
            staff=staff,
            occurred_at=event.received_at,
            reference=_intake_reference(event),
            metadata={"via": "email intake", "subject": event.subject[:200]},
        ),
        # Interaction.Source has no "email" yet: an integration sending Heard the receipt is
        # what the API source means.
        source=Interaction.Source.API,
        now=now,
    )
    return interaction


def intake_held(touchpoint: Touchpoint):
    """Intake mail from strangers waiting for an owner of this touchpoint, newest first."""
    return InboundEvent.objects.filter(
        org_id=touchpoint.org_id,
        kind=Kind.INTAKE,
        inbound_address__purpose=InboundAddress.Purpose.INTAKE,
        inbound_address__target=str(touchpoint.code),
        status_code=INTAKE_HELD,
    ).order_by("-received_at", "-pk")


def intake_event_approve(
    *, event: InboundEvent, touchpoint: Touchpoint, member: Membership, now: datetime
) -> Interaction | None:
    """An owner vouches for a held intake message: it records its interaction as if a
    member had sent it (the sender still isn't the staff member). None if nobody to ask."""
    with transaction.atomic():
        held = (
            InboundEvent.objects.select_for_update()
            .filter(pk=event.pk, status_code=INTAKE_HELD)
            .first()
        )
        if held is None:
            return None  # approved or discarded meanwhile (a double click)
        found = _intake_parties(held, touchpoint)
        interaction = None
        if found is not None:
            customer, name, staff = found
            interaction = _intake_record(held, touchpoint, customer, name, staff, now)
        InboundEvent.objects.filter(pk=held.pk).update(status_code=INTAKE_APPROVED)
    return interaction


def intake_event_discard(*, event: InboundEvent, member: Membership, now: datetime) -> bool:
    """An owner throws a held intake message away: nobody is surveyed."""
    return bool(
        InboundEvent.objects.filter(pk=event.pk, status_code=INTAKE_HELD).update(
            status_code=INTAKE_DISCARDED
        )
    )
