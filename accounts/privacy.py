"""The lowest floor's part of a customer's data rights: what the outbox, the inbound mail and
the webhook outbox hold about an address, exported or erased, and the access log.

Each floor erases what it owns (surveys.privacy, actions.privacy, feedback.privacy); the
orchestration lives on the top floor, which can see everything (``feedback.privacy``). Every
function here is set-based (one UPDATE per table per call), so the retention sweep can
anonymise thousands of customers per batch.
"""

import html
import json
import secrets
from collections.abc import Iterable
from datetime import datetime

from django.db.models import CharField, Q, TextField, Value
from django.db.models.functions import Cast, Concat, Replace
from django.utils.crypto import salted_hmac

from .models import (
    AccessRecord,
    InboundEvent,
    Membership,
    Organisation,
    OrgEvent,
    OutgoingEmail,
    WebhookAttempt,
)

#: What stands where a customer's words were: neutral, and still non-empty so that figures
#: counting "responses with words" keep counting them.
ERASED = "[erased at the customer's request]"
#: The address an erased customer's emails now name: not anyone's, and never deliverable.
ERASED_ADDRESS = "erased@erased.invalid"
# Needles shorter than this are left alone: replacing "Al" everywhere would mangle staff text.
_MIN_NEEDLE = 4


def address_hash(email: str) -> str:
    """A keyed hash (HMAC-SHA256 under SECRET_KEY) of the lower-cased address: the same
    address always gives the same hash, so the suppression list and the access log can name a
    person without holding their address, and nobody without the key can test guesses."""
    normalised = (email or "").strip().lower()
    return salted_hmac("heard.privacy.address", normalised, algorithm="sha256").hexdigest()


def access_record(
    *,
    org: Organisation,
    member: Membership | None,
    kind: str,
    email: str = "",
    detail: str = "",
    now: datetime,
) -> AccessRecord:
    """Append one line to the business's access log (never the address itself)."""
    return AccessRecord.objects.create(
        org=org,
        member=member,
        kind=kind,
        subject=address_hash(email) if email else "",
        detail=detail[:200],
        created_at=now,
    )


def needles_for(texts: Iterable[str]) -> list[str]:
    """The strings to search for and replace: each text as written and as HTML-escaped (an
    HTML email body holds the escaped form), longest first so a longer quote is replaced
    before a shorter one inside it, without blanks and short ones."""
    found = set()
    for text in texts:
        text = (text or "").strip()
        if len(text) < _MIN_NEEDLE or text == ERASED:
            continue
        found.update({text, html.escape(text), html.escape(text, quote=False)})
        if "@" in text:
            found.add(text.lower())
    return sorted(found, key=len, reverse=True)


def replaced(field: str, needles: list[str]):
    """``field`` with every needle replaced by ERASED, as one database expression."""
    expression = Replace(field, Value(needles[0]), Value(ERASED))
    for needle in needles[1:]:
        expression = Replace(expression, Value(needle), Value(ERASED))
    return expression


def mentions_q(fields: list[str], needles: list[str]) -> Q:
    """Rows where any of ``fields`` contains any needle."""
    condition = Q()
    for field in fields:
        for needle in needles:
            condition |= Q(**{f"{field}__contains": needle})
    return condition


def _address_q(field: str, emails: list[str]) -> Q:
    lowered = sorted({e.strip().lower() for e in emails if e and e.strip()})
    return Q(**{f"{field}__in": lowered}) if lowered else Q(pk__in=[])


# --- Export ------------------------------------------------------------------------------------


def outbox_export(*, org: Organisation, email: str) -> list[dict]:
    """Every email Heard recorded to this address for this business, with its delivery state."""
    rows = OutgoingEmail.objects.filter(org=org, to__iexact=email.strip()).order_by("created_at")
    return [
        {
            "kind": row.kind,
            "subject": row.subject,
            "body_text": row.body_text,
            "created_at": row.created_at,
            "sent_at": row.sent_at,
            "delivery_state": row.delivery_state,
            "delivered_at": row.delivered_at,
            "bounced_at": row.bounced_at,
            "complained_at": row.complained_at,
        }
        for row in rows
    ]


def inbound_export(*, org: Organisation, email: str) -> list[dict]:
    """What came back from this address (replies, bounces, complaints), without the raw
    message (it also holds other people's headers and servers)."""
    email = email.strip()
    rows = InboundEvent.objects.filter(
        Q(org=org) | Q(outgoing__org=org),
        Q(sender__iexact=email) | Q(recipient__iexact=email) | Q(outgoing__to__iexact=email),
    ).order_by("received_at")
    return [
        {
            "kind": row.kind,
            "source": row.source,
            "subject": row.subject,
            "text": row.text,
            "received_at": row.received_at,
        }
        for row in rows.distinct()
    ]


# --- Erasure -----------------------------------------------------------------------------------


def outbox_erase(*, org: Organisation, emails: list[str], texts: list[str], now: datetime) -> int:
    """Anonymise the outbox: every email to these addresses loses its address, subject, bodies
    and headers (when and how it was delivered stays, for the figures), and one still queued is
    given up so nothing goes out with the marker in it; emails to others (staff notices,
    forwards) that quote these addresses or ``texts`` get them replaced. Returns rows changed."""
    to_them = OutgoingEmail.objects.filter(Q(org=org) | Q(org=None), _address_q("to", emails))
    to_them.filter(sent_at=None, failed_at=None).update(
        failed_at=now, last_error="Not sent: the customer's data was erased."
    )
    changed = to_them.update(
        to=ERASED_ADDRESS,
        reply_to="",
        subject=ERASED,
        body_text=ERASED,
        body_html="",
        headers={},
        claimed_by="",
    )
    # Only for one erasure (``texts`` given): a retention batch's thousands of addresses would
    # make one enormous expression, and its old emails are emptied by age instead.
    needles = needles_for([*emails, *texts]) if texts else []
    if needles:
        fields = ["subject", "body_text", "body_html", "reply_to", "last_error"]
        quoting = OutgoingEmail.objects.filter(Q(org=org), mentions_q(fields, needles))
        changed += quoting.update(**{field: replaced(field, needles) for field in fields})
    return changed


def inbound_erase(*, org: Organisation, emails: list[str], texts: list[str], now: datetime) -> int:
    """Anonymise what came back from (or about) these addresses: the raw message, its text,
    sender and subject. The event stays, processed, so the sweeps never look at it again."""
    ours = Q(org=org) | Q(outgoing__org=org)
    theirs = (
        _address_q("sender", emails)
        | _address_q("recipient", emails)
        | Q(outgoing__to=ERASED_ADDRESS)  # outbox_erase may have run first
    )
    needles = needles_for(texts)
    if needles:
        theirs |= mentions_q(["text", "subject"], needles)
    pks = list(InboundEvent.objects.filter(ours, theirs).values_list("pk", flat=True))
    return InboundEvent.objects.filter(pk__in=pks).update(
        # The dedupe key names the recipient; it must stay unique, so it becomes the row's own.
        dedupe_key=Concat(Value("erased:"), Cast("pk", CharField())),
        sender="",
        recipient="",
        subject=ERASED,
        text=ERASED,
        raw="",
        last_error="",
        processed_at=now,
    )


def inbound_erase_older(*, org: Organisation, before: datetime, now: datetime) -> int:
    """Retention: every inbound message older than the cut-off loses its content (set-based,
    one UPDATE; the dedupe key holds an address, so it becomes the row's own)."""
    rows = InboundEvent.objects.filter(org=org, received_at__lt=before).exclude(raw="", sender="")
    return rows.update(
        sender="",
        recipient="",
        subject=ERASED,
        text=ERASED,
        raw="",
        last_error="",
        processed_at=now,
        dedupe_key=Concat(Value("erased:"), Cast("pk", CharField())),
    )


def _scrub(value, needles: list[str]):
    if isinstance(value, str):
        for needle in needles:
            value = value.replace(needle, ERASED)
        return value
    if isinstance(value, list):
        return [_scrub(item, needles) for item in value]
    if isinstance(value, dict):
        return {key: _scrub(item, needles) for key, item in value.items()}
    return value


def webhook_payloads_erase(*, org: Organisation, texts: list[str]) -> int:
    """Replace these addresses, names and words in the business's webhook events (queued or
    sent: a replay sends the stored payload again) and in receivers' answers we kept."""
    needles = needles_for(texts)
    if not needles:
        return 0
    # Each needle as it appears inside the stored JSON text (quotes and newlines escaped).
    encoded = [json.dumps(n, ensure_ascii=False)[1:-1] for n in needles]
    events = (
        OrgEvent.objects.filter(org=org)
        .annotate(as_text=Cast("payload", TextField()))
        .filter(mentions_q(["as_text"], sorted(set(encoded + needles), key=len, reverse=True)))
    )
    changed = 0
    for event in events.only("pk", "payload"):
        changed += OrgEvent.objects.filter(pk=event.pk).update(
            payload=_scrub(event.payload, needles)
        )
    WebhookAttempt.objects.filter(
        mentions_q(["response_excerpt", "error"], needles), delivery__org=org
    ).update(
        response_excerpt=replaced("response_excerpt", needles), error=replaced("error", needles)
    )
    return changed


def webhook_payloads_erase_older(*, org: Organisation, before: datetime) -> int:
    """Retention: webhook events older than the cut-off keep their type and time, not their
    contents (a replay of one sends an empty payload)."""
    WebhookAttempt.objects.filter(delivery__org=org, started_at__lt=before).exclude(
        response_excerpt=""
    ).update(response_excerpt="")
    return (
        OrgEvent.objects.filter(org=org, created_at__lt=before)
        .exclude(payload={"erased": True})
        .update(payload={"erased": True})
    )


def outbox_erase_older(*, org: Organisation, before: datetime) -> int:
    """Retention: emails older than the cut-off keep when and how they were delivered, not
    what they said or to whom (staff notices quote customers too)."""
    return (
        OutgoingEmail.objects.filter(org=org, created_at__lt=before)
        .exclude(subject=ERASED)
        .update(
            to=ERASED_ADDRESS,
            reply_to="",
            subject=ERASED,
            body_text=ERASED,
            body_html="",
            headers={},
        )
    )


def new_secret_token() -> str:
    """A fresh random token for a link that must stop working (192 bits, like the originals)."""
    return secrets.token_urlsafe(24)
