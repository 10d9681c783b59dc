""" "Did it stay fixed?": the ``send_follow_ups`` sweep, and the loop every sweep of customer
rows due at a time shares (``due_rows_sweep``; actions.reviews uses it too).

A ``FollowUp`` row is written when a customer says Yes to "Did this sort it out?" and their
touchpoint asks again some weeks later (``services.follow_up_schedule``). When it falls due,
the sweep claims it with ``SELECT … FOR UPDATE SKIP LOCKED`` (ids first, so a row that can't
even be loaded is set aside alone), and in the claim's transaction either records the email
under the key ``followup:<id>`` and marks the row sent, or marks it skipped with the reason
(the same rules as surveys: unsubscribed, bounced, asked within the business's fatigue days).
A row that fails is written on (``attempts``, ``last_error``) and the batch goes on; after
``GIVE_UP_AFTER`` tries it is skipped as failed. Once the batch has committed, the outbox
sends its emails (``email_deliver``).

The email's Yes / No links only open /f/<token>/still-sorted/: mail scanners open every link,
so the answer is stored only when a person presses a button there (a POST).
"""

import logging
from collections.abc import Callable
from datetime import datetime

from django.db import transaction
from django.db.models import F, QuerySet

from accounts.mail import email_build, email_deliver, email_record, open_connection
from surveys.models import Customer
from surveys.sending import unsubscribe_url

from .models import ActionEvent, FollowUp

log = logging.getLogger(__name__)

BATCH = 100
GIVE_UP_AFTER = 5


def due_rows_sweep(
    *,
    due: Callable[[], QuerySet],
    one: Callable[[int], str | None],
    record_failure: Callable[[int, Exception], None],
    now: datetime,
    batch: int,
) -> int:
    """Claim rows of ``due()`` in batches (SKIP LOCKED, so parallel sweeps share the work)
    and decide each with ``one(pk)``, which returns the outbox key it recorded, if any. A row
    that raises is rolled back alone and handed to ``record_failure``; the batch goes on.
    The batch's emails go once its transaction has committed. Returns the rows claimed."""
    claimed_total, tried = 0, set()
    with open_connection() as connection:
        while True:
            keys, failures = [], []
            with transaction.atomic():
                ids = list(
                    due()
                    .exclude(pk__in=tried)
                    .select_for_update(skip_locked=True)
                    .order_by("due_at", "pk")
                    .values_list("pk", flat=True)[:batch]
                )
                for pk in ids:
                    tried.add(pk)
                    try:
                        with transaction.atomic():
                            if key := one(pk):
                                keys.append(key)
                    except Exception as exc:  # this row's problem, not the sweep's
                        log.exception("Row %s could not be sent", pk)
                        failures.append((pk, exc))
                for pk, exc in failures:
                    record_failure(pk, exc)
            if keys:
                email_deliver(keys=keys, now=now, connection=connection)
            claimed_total += len(ids)
            if len(ids) < batch:
                return claimed_total


def follow_ups_send_due(*, now: datetime, batch: int = BATCH) -> int:
    """Send (or skip, with the reason) every "Is it still sorted?" that has fallen due.
    Returns how many rows were decided or tried."""
    return due_rows_sweep(
        due=lambda: FollowUp.objects.due(now),
        one=lambda pk: _follow_up_one(pk, now),
        record_failure=lambda pk, exc: _follow_up_failed(pk, exc, now),
        now=now,
        batch=batch,
    )


def _follow_up_one(pk: int, now: datetime) -> str | None:
    follow_up = FollowUp.objects.select_related(
        "org",
        "action",
        "loop_message",
        "response__customer",
        "response__invitation",
    ).get(pk=pk)
    reason = follow_up.reason_not_to_send(now)
    if reason:
        FollowUp.objects.filter(pk=pk).update(skipped_at=now, skip_reason=reason)
        return None
    customer = follow_up.response.customer
    token = follow_up.response.invitation.token
    email = email_build(
        key=f"followup:{follow_up.pk}",
        kind="follow_up",
        to=customer.email,
        template="followup",
        org=follow_up.org,
        context={"follow_up": follow_up, "customer": customer, "token": token},
        # It asks a question, like a survey: one click in the mail client unsubscribes.
        headers={
            "List-Unsubscribe": f"<{unsubscribe_url(token)}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
    )
    outcome = email_record([email])
    if email.key in outcome.unrecorded:
        raise RuntimeError(outcome.unrecorded[email.key])
    FollowUp.objects.filter(pk=pk).update(sent_at=now)
    # A question asked counts as being asked: no survey follows it within the fatigue days.
    Customer.objects.filter(pk=customer.pk).update(last_surveyed_at=now)
    ActionEvent.objects.create(
        action=follow_up.action,
        kind=ActionEvent.Kind.EMAIL_OUT,
        created_at=now,
        text=f"Asked {customer.public_name} whether it is still sorted.",
        data={"follow_up": str(follow_up.code)},
    )
    return email.key


def _follow_up_failed(pk: int, exc: Exception, now: datetime) -> None:
    row = FollowUp.objects.filter(pk=pk)
    row.update(attempts=F("attempts") + 1, last_error=f"{exc.__class__.__name__}: {exc}"[:2000])
    row.filter(attempts__gte=GIVE_UP_AFTER).update(skipped_at=now, skip_reason=FollowUp.Skip.FAILED)
