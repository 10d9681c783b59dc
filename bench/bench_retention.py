"""The retention sweep anonymising 100,000 customers past their business's retention period,
each with an interaction, a sent invitation, a response with words and an answer, and an
email in the outbox. Prints the time the sweep took (target: under a minute) and checks that
a second run changes nothing.

Uses the ``heard_bench_retention`` PostgreSQL database (created if missing; the business is
rebuilt on every run).

    .venv/bin/python bench/bench_retention.py [--customers 100000] [--batch 2000]
"""

import argparse
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.feedback_data import setup_django, step

CHUNK = 5000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=2000)
    args = parser.parse_args()
    setup_django("heard_bench_retention")

    from django.db import connection
    from django.utils import timezone

    from accounts.models import Organisation, OutgoingEmail
    from feedback import privacy
    from surveys.models import Answer, Customer, Interaction, Invitation, Response
    from tests.factories import make_survey

    now = timezone.now()
    old = now - timedelta(days=800)
    # This database is the bench's own: start from nothing (a cascade through 600,000 rows in
    # Python would take longer than the bench).
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {Organisation._meta.db_table} CASCADE")
    org = Organisation.objects.create(slug="bench-retention", name="Retention", retention_months=24)
    survey = make_survey(org)
    version = survey.current_version()
    question = version.questions.first()
    from surveys.models import Touchpoint

    touchpoint = Touchpoint.objects.create(org=org, slug="visit", name="Visit", survey=survey)
    n = args.customers
    with step(f"{n:,} customers, interactions, invitations, responses, answers and emails"):
        for start in range(0, n, CHUNK):
            numbers = range(start, min(n, start + CHUNK))
            customers = Customer.objects.bulk_create(
                [
                    Customer(
                        org=org, email=f"c{i}@example.org", name=f"Customer {i}", created_at=old
                    )
                    for i in numbers
                ]
            )
            interactions = Interaction.objects.bulk_create(
                [
                    Interaction(
                        org=org,
                        customer=c,
                        touchpoint=touchpoint,
                        occurred_at=old,
                        reference=f"till-{c.pk}",
                        metadata={"till": c.pk},
                        created_at=old,
                    )
                    for c in customers
                ]
            )
            invitations = Invitation.objects.bulk_create(
                [
                    Invitation(
                        org=org,
                        interaction=i,
                        customer=i.customer,
                        survey_version=version,
                        status=Invitation.Status.SENT,
                        due_at=old,
                        sent_at=old,
                        expires_at=old + timedelta(days=30),
                        created_at=old,
                    )
                    for i in interactions
                ]
            )
            responses = Response.objects.bulk_create(
                [
                    Response(
                        org=org,
                        invitation=i,
                        survey_version=version,
                        customer=i.customer,
                        submitted_at=old,
                        verbatim=f"Words of customer {i.customer_id}",
                        created_at=old,
                    )
                    for i in invitations
                ]
            )
            Answer.objects.bulk_create(
                [Answer(response=r, question=question, yes_no=True) for r in responses]
            )
            OutgoingEmail.objects.bulk_create(
                [
                    OutgoingEmail(
                        org=org,
                        key=f"bench-retention:{i.pk}",
                        kind="survey_invitation",
                        to=i.customer.email,
                        from_email="heard@example.com",
                        subject="How did it go?",
                        body_text=f"Hello {i.customer.name}",
                        created_at=old,
                        sent_at=old,
                    )
                    for i in invitations
                ]
            )

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")  # as a live database would have its statistics
    started = time.perf_counter()
    done = privacy.retention_apply(org=org, now=now, batch=args.batch)
    took = time.perf_counter() - started
    print(f"retention sweep: {done:,} customers anonymised in {took:.1f} s", flush=True)
    started = time.perf_counter()
    again = privacy.retention_apply(org=org, now=now, batch=args.batch)
    print(f"second run: {again:,} customers in {time.perf_counter() - started:.1f} s")
    left = Customer.objects.filter(org=org).exclude(email="").count()
    print(f"customers still with an address: {left}")


if __name__ == "__main__":
    main()
