"""The surveys floor's part of a customer's data rights: customers, interactions, invitations,
responses and answers, exported or anonymised, the suppression list, and the customer's own
"Delete what I told you" request (a row the top floor's sweep carries out:
``feedback.privacy``).

Anonymising is set-based (one UPDATE per table for a whole batch of customers), so the same
function serves one erasure and the retention sweep's thousands. Rows are kept, not deleted:
the figures keep counting every response and rating; only what identifies the person, and the
words they wrote, go.
"""

from collections.abc import Iterable
from datetime import datetime

from django.db.models import Exists, Func, OuterRef

from accounts.models import Organisation
from accounts.privacy import ERASED, address_hash

from .models import (
    Answer,
    Customer,
    ErasureRequest,
    HearBack,
    Interaction,
    Invitation,
    Response,
    Suppression,
)


class RandomToken(Func):
    """A fresh unguessable token per row, in the database (so a batch is one UPDATE): 64 hex
    characters from the database's cryptographic random source."""

    output_field = Invitation._meta.get_field("token")

    def as_postgresql(self, compiler, connection, **extra):
        # gen_random_uuid() (PostgreSQL 13+) uses the strong random source; two make 244 bits.
        sql = (
            "replace(gen_random_uuid()::text, '-', '') || replace(gen_random_uuid()::text, '-', '')"
        )
        return sql, []

    def as_sqlite(self, compiler, connection, **extra):
        return "lower(hex(randomblob(32)))", []


def suppressed_addresses(*, org: Organisation, emails: Iterable[str]) -> set[str]:
    """Which of these addresses (lower-cased) are on the business's suppression list. One
    query, or none for no addresses."""
    by_hash = {address_hash(e): e.strip().lower() for e in emails if e and e.strip()}
    if not by_hash:
        return set()
    found = Suppression.objects.filter(org=org, address_hash__in=list(by_hash)).values_list(
        "address_hash", flat=True
    )
    return {by_hash[h] for h in found}


def customers_find(*, org: Organisation, email: str):
    """The business's customers with this address (at most one: addresses are unique per
    business, compared without case here because people type them as they like)."""
    email = (email or "").strip()
    if not email:
        return Customer.objects.none()
    return Customer.objects.filter(org=org, email__iexact=email, erased_at=None)


def customers_words(*, customer_ids: list[int]) -> list[str]:
    """What these customers are and wrote, as text that may be quoted on other floors (staff
    notices, webhook payloads): addresses, names, their words and answers in their words."""
    texts: list[str] = []
    for email, name in Customer.objects.filter(pk__in=customer_ids).values_list("email", "name"):
        texts += [email, name]
    texts += Response.objects.filter(customer_id__in=customer_ids).values_list(
        "verbatim", flat=True
    )
    texts += Answer.objects.filter(response__customer_id__in=customer_ids).values_list(
        "text", flat=True
    )
    texts += HearBack.objects.filter(response__customer_id__in=customer_ids).values_list(
        "email", flat=True
    )
    return [t for t in texts if t and t != ERASED]


def _iso(moment):
    return moment.isoformat() if moment else None


def customer_export(*, customer: Customer) -> dict:
    """Everything this floor holds about one customer, as plain JSON-ready data."""
    interactions = (
        Interaction.objects.filter(customer=customer)
        .select_related("touchpoint", "staff__user")
        .order_by("occurred_at")
    )
    invitations = {
        i.interaction_id: i for i in Invitation.objects.filter(customer=customer).order_by("pk")
    }
    responses = {
        r.invitation_id: r
        for r in Response.objects.filter(customer=customer).prefetch_related("answers__question")
    }
    out = []
    for interaction in interactions:
        invitation = invitations.get(interaction.pk)
        response = responses.get(invitation.pk) if invitation else None
        item = {
            "touchpoint": interaction.touchpoint.name,
            "occurred_at": _iso(interaction.occurred_at),
            "reference": interaction.reference,
            "metadata": interaction.metadata,
            "source": interaction.source,
            "served_by": interaction.staff.display_name if interaction.staff else None,
            "invitation": invitation
            and {
                "status": invitation.status,
                "skip_reason": invitation.skip_reason,
                "due_at": _iso(invitation.due_at),
                "sent_at": _iso(invitation.sent_at),
                "reminded_at": _iso(invitation.reminded_at),
                "expires_at": _iso(invitation.expires_at),
            },
            "response": None,
        }
        if response is not None:
            item["response"] = {
                "channel": response.channel,
                "submitted_at": _iso(response.submitted_at),
                "changed_at": _iso(response.changed_at),
                "words": response.verbatim,
                "answers": [
                    {"question": a.question.text, "answer": a.display_value}
                    for a in sorted(response.answers.all(), key=lambda a: a.question.position)
                ],
                "consent_to_quote": response.consent_to_quote,
                "consent_withdrawn_at": _iso(response.consent_withdrawn_at),
            }
        out.append(item)
    return {
        "customer": {
            "email": customer.email,
            "name": customer.name,
            "locale": customer.locale,
            "created_at": _iso(customer.created_at),
            "unsubscribed_at": _iso(customer.opted_out_at),
            "bounced_at": _iso(customer.bounced_at),
            "last_surveyed_at": _iso(customer.last_surveyed_at),
        },
        "interactions": out,
    }


def customers_anonymise(
    *, org: Organisation, customer_ids: list[int], suppress: bool, now: datetime
) -> int:
    """Anonymise these customers of ``org`` in one UPDATE per table: no address, name, locale,
    reference or metadata; their words and written answers become ``ERASED`` (still non-empty,
    so "responses with words" keeps its count); every link they were sent stops working (new
    tokens); nothing scheduled is ever sent. With ``suppress``, their addresses' keyed hashes
    join the suppression list first. Safe to repeat. Returns how many customers changed.
    """
    customers = Customer.objects.filter(org=org, pk__in=customer_ids)
    # Plain id lists (not subqueries): the planner then uses each table's customer index.
    ids = list(customers.values_list("pk", flat=True))
    live = list(customers.filter(erased_at=None).values_list("pk", flat=True))
    if suppress:
        hashes = {
            address_hash(email)
            for email in customers.exclude(email="").values_list("email", flat=True)
        }
        Suppression.objects.bulk_create(
            [Suppression(org=org, address_hash=h, created_at=now) for h in hashes],
            ignore_conflicts=True,
        )
    Interaction.objects.filter(customer_id__in=ids).exclude(reference=None, metadata={}).update(
        reference=None, metadata={}
    )
    invitations = Invitation.objects.filter(customer_id__in=ids)
    invitations.filter(status=Invitation.Status.SCHEDULED).update(
        status=Invitation.Status.SKIPPED, skip_reason=Invitation.SkipReason.SUPPRESSED
    )
    # Only customers not yet anonymised: an erased customer's links were replaced already, so
    # a second run rewrites nothing.
    Invitation.objects.filter(customer_id__in=live).update(
        token=RandomToken(), reminder_due_at=None, last_error=""
    )
    responses = Response.objects.filter(customer_id__in=ids)
    responses.exclude(verbatim="").exclude(verbatim=ERASED).update(verbatim=ERASED)
    Answer.objects.filter(response__customer_id__in=ids).exclude(text="").exclude(
        text=ERASED
    ).update(text=ERASED)
    HearBack.objects.filter(response__customer_id__in=ids).exclude(email="").update(
        email="", token=RandomToken()
    )
    return Customer.objects.filter(pk__in=live).update(
        email="",
        name="",
        locale="",
        erased_at=now,
        opted_out_at=now,
        survey_hold_reason="",
    )


def customers_past_retention(*, org: Organisation, before: datetime, limit: int) -> list[int]:
    """Up to ``limit`` customers of ``org`` not yet anonymised, known since before the cut-off
    and with no interaction on or after it."""
    newer = Interaction.objects.filter(customer=OuterRef("pk"), occurred_at__gte=before)
    return list(
        Customer.objects.filter(org=org, erased_at=None, created_at__lt=before)
        .filter(~Exists(newer))
        .order_by("pk")
        .values_list("pk", flat=True)[:limit]
    )


def erasure_request_record(*, invitation: Invitation, source: str, now: datetime) -> ErasureRequest:
    """The customer asked to have what they told the business deleted (a POST from their own
    page). One pending request per customer; a second press changes nothing."""
    pending = ErasureRequest.objects.pending().filter(customer_id=invitation.customer_id).first()
    if pending is not None:
        return pending
    return ErasureRequest.objects.create(
        org_id=invitation.org_id,
        customer_id=invitation.customer_id,
        source=source,
        requested_at=now,
    )
