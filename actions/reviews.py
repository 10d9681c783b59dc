"""Reviews, without gating: the ``send_review_offers`` sweep.

Every loop-closing message schedules a ``ReviewOffer`` a day later
(``services.review_offer_schedule``), before and whatever the customer answers: review sites
forbid asking only happy customers, so the offer never depends on a Yes. When it falls due the
sweep (``followups.due_rows_sweep``: SKIP LOCKED, one bad row never stops it) emails the
business's review link, or records why not: no link set, the customer unsubscribed or bounced,
or already offered. The outbox key is one per customer per business
(``ReviewOffer.email_key``), so however many loops close for someone, and however many
sweeps run at once, the offer reaches them by email at most once. The status page offers the
same link to every customer whose loop closed.
"""

from datetime import datetime

from django.db.models import F

from accounts.mail import email_build, email_record
from accounts.models import OutgoingEmail

from .followups import GIVE_UP_AFTER, due_rows_sweep
from .models import ReviewOffer

BATCH = 100


def review_offers_send_due(*, now: datetime, batch: int = BATCH) -> int:
    """Send (or skip, with the reason) every review offer that has fallen due. Returns how
    many rows were decided or tried."""
    return due_rows_sweep(
        due=lambda: ReviewOffer.objects.due(now),
        one=lambda pk: _offer_one(pk, now),
        record_failure=lambda pk, exc: _offer_failed(pk, exc, now),
        now=now,
        batch=batch,
    )


def _offer_one(pk: int, now: datetime) -> str | None:
    offer = ReviewOffer.objects.select_related("org", "customer").get(pk=pk)
    key = ReviewOffer.email_key(org_id=offer.org_id, customer_id=offer.customer_id)
    offered_before = OutgoingEmail.objects.filter(key=key).exists()
    reason = offer.reason_not_to_send(offered_before=offered_before)
    if reason:
        ReviewOffer.objects.filter(pk=pk).update(skipped_at=now, skip_reason=reason)
        return None
    email = email_build(
        key=key,
        kind="review_offer",
        to=offer.customer.email,
        template="review-offer",
        org=offer.org,
        context={"customer": offer.customer, "review_url": offer.org.review_url},
    )
    # Another sweep recording the same key at the same moment leaves one row: ignore_conflicts.
    outcome = email_record([email])
    if key in outcome.unrecorded:
        raise RuntimeError(outcome.unrecorded[key])
    ReviewOffer.objects.filter(pk=pk).update(sent_at=now)
    return key


def _offer_failed(pk: int, exc: Exception, now: datetime) -> None:
    row = ReviewOffer.objects.filter(pk=pk)
    row.update(attempts=F("attempts") + 1, last_error=f"{exc.__class__.__name__}: {exc}"[:2000])
    row.filter(attempts__gte=GIVE_UP_AFTER).update(
        skipped_at=now, skip_reason=ReviewOffer.Skip.FAILED
    )
