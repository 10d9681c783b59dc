"""A customer's data rights, across every floor: find, export, erase, retention.

The top floor orchestrates because only it can see everything a person left behind: their
customer row, answers and words (surveys), the actions about them and their history
(actions), the wall's quotes and cached pages (here), and the outbox, inbound mail and webhook
events (accounts). Each floor anonymises its own rows (``<floor>/privacy.py``), set-based, so
one erasure and a retention batch of thousands run the same code.

Anonymised, not deleted: the figures keep counting every response, rating and action, and
"what we did" stays; what identifies the person and the words they wrote are replaced by
``ERASED``. An erasure also puts a keyed hash of the address on the suppression list
(surveys), so a later interaction for the same address is recorded but never surveyed.

The customer's own "Delete what I told you" is an ``ErasureRequest`` row written by their page
(surveys or actions, which cannot call up here); ``erasure_requests_carry_out`` (beat: every
10 s) carries it out. ``retention_sweep`` (beat: daily) anonymises customers with no
interaction for ``Organisation.retention_months``.
"""

import calendar
import logging
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.db.models.functions import Coalesce

from accounts.models import AccessRecord, InboundEvent, Membership, Organisation, OutgoingEmail
from accounts.privacy import (
    ERASED,
    access_record,
    address_hash,
    inbound_erase,
    inbound_erase_older,
    inbound_export,
    outbox_erase,
    outbox_erase_older,
    outbox_export,
    webhook_payloads_erase,
    webhook_payloads_erase_older,
)
from actions.models import Action, LoopMessage
from actions.privacy import actions_anonymise, actions_export
from surveys.models import Customer, ErasureRequest, Interaction, Response, Suppression
from surveys.privacy import (
    customer_export as surveys_customer_export,
)
from surveys.privacy import (
    customers_anonymise,
    customers_find,
    customers_past_retention,
    customers_words,
)

from . import wallcache
from .models import WallEntry

log = logging.getLogger(__name__)

RETENTION_BATCH = 2000
ERASURE_BATCH = 10
ERASURE_GIVE_UP_AFTER = 10
PUBLIC_NAME_FALLBACK = "A customer"

ABOUT = (
    "This file holds everything Heard stores about one email address for one business, as "
    "that business's copy of Heard had it when the file was made. 'customers' is the customer "
    "record (name, address, language, when they unsubscribed or their email bounced) with "
    "each interaction the business told Heard about, the survey invitation for it (whether "
    "it was sent and, if not, why) and the answers and words given, with consent to be "
    "quoted and its withdrawal. 'actions' are what the business opened about that feedback: "
    "its status, deadlines, what was done, its history and the messages sent to the "
    "customer. 'wall' is what was published on the business's public 'you said, we did' "
    "wall. 'emails' lists every email sent to the address with its delivery state; "
    "'replies_and_bounces' what came back from or about the address. Times are ISO 8601 in "
    "UTC. 'staff_notes_included' says whether the business's internal notes on actions are "
    "in the history. Ask the business (see 'organisation') about anything in it."
)


def months_before(moment: datetime, months: int) -> datetime:
    """The same day and time ``months`` calendar months earlier (the 31st becomes the last
    day of a shorter month)."""
    index = moment.year * 12 + (moment.month - 1) - months
    year, month = divmod(index, 12)
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)


# --- Find -------------------------------------------------------------------------------------


def customer_search(*, org: Organisation, email: str, member: Membership, now: datetime) -> dict:
    """How much Heard holds about this address in this business, for the owner's privacy page
    (counts, never the data), recorded in the access log."""
    email = (email or "").strip()
    access_record(
        org=org, member=member, kind=AccessRecord.Kind.CUSTOMER_SEARCH, email=email, now=now
    )
    ids = list(customers_find(org=org, email=email).values_list("pk", flat=True))
    return {
        "email": email,
        "found": bool(ids),
        "suppressed": Suppression.objects.filter(
            org=org, address_hash=address_hash(email)
        ).exists(),
        "interactions": Interaction.objects.filter(customer_id__in=ids).count(),
        "responses": Response.objects.filter(customer_id__in=ids).count(),
        "actions": Action.objects.filter(customer_id__in=ids).count(),
        "emails": OutgoingEmail.objects.filter(org=org, to__iexact=email).count() if email else 0,
        "replies": InboundEvent.objects.filter(org=org, sender__iexact=email).count()
        if email
        else 0,
        "wall": WallEntry.objects.filter(response__customer_id__in=ids).count(),
    }


def address_seen(*, org: Organisation, email: str) -> bool:
    """Whether Heard ever knew this address in this business (a customer, an email to it, or
    an erasure that left its hash)."""
    email = (email or "").strip()
    if not email:
        return False
    return (
        customers_find(org=org, email=email).exists()
        or Suppression.objects.filter(org=org, address_hash=address_hash(email)).exists()
        or OutgoingEmail.objects.filter(org=org, to__iexact=email).exists()
    )


# --- Export -----------------------------------------------------------------------------------


def _wall_export(customer_ids: list[int]) -> list[dict]:
    entries = WallEntry.objects.filter(response__customer_id__in=customer_ids).order_by("pk")
    return [
        {
            "quote": entry.quote,
            "attribution": entry.attribution,
            "touchpoint": entry.touchpoint_name,
            "month": entry.month.isoformat(),
            "what_we_did": entry.what_we_did,
            "published_at": entry.published_at.isoformat(),
            "unpublished_at": entry.unpublished_at and entry.unpublished_at.isoformat(),
        }
        for entry in entries
    ]


def customer_export(
    *,
    org: Organisation,
    email: str,
    member: Membership | None,
    include_notes: bool,
    now: datetime,
) -> dict:
    """Everything Heard holds about this address in this business, as one JSON-ready object
    with an "about" that explains it. Recorded in the access log, with the choice about staff
    notes."""
    email = (email or "").strip()
    customers = list(customers_find(org=org, email=email).order_by("pk"))
    access_record(
        org=org,
        member=member,
        kind=AccessRecord.Kind.EXPORT,
        email=email,
        detail="staff notes included" if include_notes else "staff notes left out",
        now=now,
    )
    actions = []
    for customer in customers:
        actions += actions_export(customer=customer, include_notes=include_notes)
    return {
        "about": ABOUT,
        "format": "heard-customer-export/1",
        "generated_at": now.isoformat(),
        "organisation": {
            "name": org.name,
            "privacy_page": f"{settings.SITE_URL.rstrip('/')}/privacy/?business={org.slug}",
        },
        "address": email,
        "staff_notes_included": include_notes,
        "customers": [surveys_customer_export(customer=c) for c in customers],
        "actions": actions,
        "wall": _wall_export([c.pk for c in customers]),
        "emails": outbox_export(org=org, email=email),
        "replies_and_bounces": inbound_export(org=org, email=email),
    }


# --- Erase ------------------------------------------------------------------------------------


def wall_entries_erase(*, org: Organisation, customer_ids: list[int], now: datetime) -> int:
    """Take these customers' quotes off the wall and out of its rows (what we did stays, for
    the business's own record), and make every cached copy of the wall stale."""
    entries = WallEntry.objects.filter(org=org, response__customer_id__in=customer_ids).exclude(
        quote=ERASED, original_quote=ERASED
    )
    changed = entries.update(
        quote=ERASED,
        original_quote=ERASED,
        attribution=PUBLIC_NAME_FALLBACK,
        unpublished_at=Coalesce("unpublished_at", now),
    )
    if changed:
        # A new wall version (every worker's cached pages are stale on their next request)
        # and this process's copies forgotten once the transaction commits.
        wallcache.wall_changed(org)
        transaction.on_commit(lambda: wallcache.forget_local(org.slug))
    return changed


def _quoted_texts(org: Organisation, customer_ids: list[int], emails: list[str]) -> list[str]:
    """Everything of theirs that other rows may quote, read before anything is replaced."""
    texts = customers_words(customer_ids=customer_ids)
    for name in Customer.objects.filter(pk__in=customer_ids).values_list("name", flat=True):
        public = Customer(name=name).public_name
        if public != PUBLIC_NAME_FALLBACK and " " in public:
            texts.append(public)  # "Jo B.", as the wall and the action's history name them
    entries = WallEntry.objects.filter(response__customer_id__in=customer_ids)
    for quote, original in entries.values_list("quote", "original_quote"):
        texts += [quote, original]
    texts += Action.objects.filter(customer_id__in=customer_ids).values_list("words", flat=True)
    texts += LoopMessage.objects.filter(response__customer_id__in=customer_ids).values_list(
        "outcome_comment", flat=True
    )
    if emails:
        texts += InboundEvent.objects.filter(
            Q(org=org), Q(sender__in=emails) | Q(recipient__in=emails)
        ).values_list("text", flat=True)
    return [t for t in texts if t and t != ERASED]


def _anonymise(
    *, org: Organisation, customer_ids: list[int], emails: list[str], quoted: bool, now: datetime
) -> None:
    """Every floor's part, for these customers (one transaction, the caller's). ``quoted``
    also replaces their words wherever staff or integrations quoted them (one erasure);
    retention batches skip that search and rely on the age-based clean-up instead."""
    texts = _quoted_texts(org, customer_ids, emails) if quoted else []
    wall_entries_erase(org=org, customer_ids=customer_ids, now=now)
    actions_anonymise(customer_ids=customer_ids, texts=texts, now=now)
    customers_anonymise(org=org, customer_ids=customer_ids, suppress=quoted, now=now)
    outbox_erase(org=org, emails=emails, texts=texts, now=now)
    inbound_erase(org=org, emails=emails, texts=texts, now=now)
    if quoted:
        webhook_payloads_erase(org=org, texts=[*emails, *texts])


def customer_erase(
    *,
    org: Organisation,
    email: str,
    member: Membership | None,
    now: datetime,
    source: str = "owner",
) -> bool:
    """Erase everything Heard holds about this address in this business, irreversibly, and
    never survey it again. Returns False when the address was never seen (nothing done, nothing
    recorded). Safe to repeat: a second call finds nothing left and changes nothing."""
    email = (email or "").strip()
    if not address_seen(org=org, email=email):
        return False
    with transaction.atomic():
        customers = list(
            customers_find(org=org, email=email).select_for_update().values_list("pk", "email")
        )
        ids = [pk for pk, _ in customers]
        emails = sorted({email.lower(), *(address.lower() for _, address in customers)})
        _anonymise(org=org, customer_ids=ids, emails=emails, quoted=True, now=now)
        # An address that only ever received email (no customer row) is suppressed too.
        Suppression.objects.get_or_create(
            org=org, address_hash=address_hash(email), defaults={"created_at": now}
        )
        ErasureRequest.objects.pending().filter(customer_id__in=ids).update(done_at=now)
        access_record(
            org=org,
            member=member,
            kind=AccessRecord.Kind.ERASE,
            email=email,
            detail=source,
            now=now,
        )
    return True


def erasure_requests_carry_out(*, now: datetime, batch: int = ERASURE_BATCH) -> int:
    """The customers' own "Delete what I told you" requests: claim pending ones (SKIP LOCKED,
    so parallel sweeps share them), erase each in its own transaction, record a failure on its
    row and go on. Returns how many were carried out."""
    done = 0
    with transaction.atomic():
        claimed = list(
            ErasureRequest.objects.pending()
            .filter(attempts__lt=ERASURE_GIVE_UP_AFTER)
            .select_for_update(skip_locked=True)
            .order_by("requested_at")
            .values_list("pk", flat=True)[:batch]
        )
        ErasureRequest.objects.filter(pk__in=claimed).update(attempts=F("attempts") + 1)
    for pk in claimed:
        request = ErasureRequest.objects.select_related("org", "customer").get(pk=pk)
        if request.done_at is not None:
            continue
        try:
            with transaction.atomic():
                customer = request.customer
                if customer.erased_at is None:
                    ids = [customer.pk]
                    emails = [customer.email.lower()] if customer.email else []
                    _anonymise(
                        org=request.org, customer_ids=ids, emails=emails, quoted=True, now=now
                    )
                    access_record(
                        org=request.org,
                        member=None,
                        kind=AccessRecord.Kind.ERASE,
                        email=customer.email,
                        detail=f"the customer's own request ({request.get_source_display()})",
                        now=now,
                    )
                ErasureRequest.objects.filter(customer_id=customer.pk, done_at=None).update(
                    done_at=now
                )
            done += 1
        except Exception as exc:  # one bad request never stops the others
            log.exception("Erasure request %s failed", pk)
            ErasureRequest.objects.filter(pk=pk).update(
                last_error=f"{exc.__class__.__name__}: {exc}"[:2000]
            )
    return done


# --- Retention --------------------------------------------------------------------------------


def retention_apply(*, org: Organisation, now: datetime, batch: int = RETENTION_BATCH) -> int:
    """Anonymise ``org``'s customers with no interaction for ``retention_months``, a batch per
    transaction (rows locked with SKIP LOCKED, so two sweeps share the work), with the same
    rules as an erasure except the suppression list (they may come back and be asked again);
    then forget the content of emails, inbound mail and webhook events older than the cut-off.
    Idempotent: a second run finds nobody. Returns how many customers it anonymised."""
    before = months_before(now, org.retention_months)
    total = 0
    while True:
        with transaction.atomic():
            candidates = customers_past_retention(org=org, before=before, limit=batch)
            if not candidates:
                break
            rows = list(
                Customer.objects.filter(pk__in=candidates, erased_at=None)
                .select_for_update(skip_locked=True)
                .values_list("pk", "email")
            )
            if not rows:
                break
            ids = [pk for pk, _ in rows]
            emails = sorted({email.lower() for _, email in rows if email})
            _anonymise(org=org, customer_ids=ids, emails=emails, quoted=False, now=now)
            total += len(ids)
    with transaction.atomic():
        outbox_erase_older(org=org, before=before)
        inbound_erase_older(org=org, before=before, now=now)
        webhook_payloads_erase_older(org=org, before=before)
    return total


def retention_sweep(*, now: datetime) -> int:
    """Every business's retention, one after another; one failing never stops the others."""
    total = 0
    for org in Organisation.objects.order_by("pk").iterator():
        try:
            total += retention_apply(org=org, now=now)
        except Exception:
            log.exception("Retention for organisation %s failed", org.pk)
    return total
