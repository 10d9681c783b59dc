"""The owner's dashboard over 1,000,000 responses and 100,000 actions on PostgreSQL.

Prints the median and p95 render time and the queries per page for each window, with the
daily roll-ups in place (as the ``refresh_rollups`` sweep leaves them) and, for comparison,
a few renders with none. Uses its own database (``heard_bench_feedback``); the data are
generated once and reused (``--fresh`` regenerates). Target: p95 ≤ 200 ms.

    .venv/bin/python bench/bench_dashboard.py [--fresh] [--responses 1000000]
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.feedback_data import fill, make_business, setup_django, step

SLUG = "bench-dashboard"
RUNS = 30


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--fresh", action="store_true")
    parser.add_argument("--responses", type=int, default=1_000_000)
    args = parser.parse_args()
    setup_django()
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from accounts.models import Organisation
    from actions.models import Action
    from feedback.models import RollupState
    from feedback.rollups import rollups_refresh
    from surveys.models import Response

    org = Organisation.objects.filter(slug=SLUG).first()
    if org is not None and args.fresh:
        with step("dropping the old bench business"), connection.cursor() as cur:
            cur.execute("TRUNCATE accounts_organisation, accounts_user CASCADE")
        org = None
    if org is None:
        print("Generating data:")
        started = time.perf_counter()
        business = make_business(SLUG, "Bench Bikes")
        # 11 invitations for every 10 responses; one action for every 10 responses.
        fill(
            *business,
            invitations=args.responses * 11 // 10,
            days=365,
            response_every=11,
            action_every=10,
        )
        org = business[0]
        print(f"  generated in {time.perf_counter() - started:.0f} s")
    responses = Response.objects.filter(org=org).count()
    actions = Action.objects.filter(org=org).count()
    print(f"Business: {responses:,} responses, {actions:,} actions over 365 days")

    RollupState.objects.filter(org=org).delete()
    started = time.perf_counter()
    days = rollups_refresh(org=org, now=timezone.now())
    print(f"Roll-ups: first full refresh of {days} days took {time.perf_counter() - started:.1f} s")
    started = time.perf_counter()
    rollups_refresh(org=org, now=timezone.now())
    print(
        f"Roll-ups: a sweep's refresh (traffic: last 7 days and today so far; actions: last "
        f"95 days) takes {time.perf_counter() - started:.2f} s"
    )

    client = Client()
    client.force_login(org.memberships.get(role="owner").user)
    pages = [
        ("last 7 days", "?days=7"),
        ("last 30 days", "?days=30"),
        ("last 90 days", "?days=90"),
        ("90 days, one touchpoint", "?days=90&touchpoint=phone"),
    ]
    load = os.getloadavg()[0]
    print(
        f"\nDashboard, {RUNS} renders each (Django test client, in process; load average "
        f"{load:.1f} on {os.cpu_count()} CPUs):"
    )
    print(f"  {'page':<26}{'median':>9}{'p95':>9}{'queries':>9}")
    worst = 0.0
    for label, query in pages:
        url = "/dashboard/" + query
        for _ in range(3):
            assert client.get(url).status_code == 200
        timings = []
        for _ in range(RUNS):
            started = time.perf_counter()
            response = client.get(url)
            timings.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200
        with CaptureQueriesContext(connection) as captured:
            client.get(url)
        p95 = statistics.quantiles(timings, n=20)[18]
        worst = max(worst, p95)
        print(
            f"  {label:<26}{statistics.median(timings):>7.0f}ms{p95:>7.0f}ms"
            f"{len(captured.captured_queries):>9}"
        )

    RollupState.objects.filter(org=org).delete()
    timings = []
    for _ in range(3):
        started = time.perf_counter()
        client.get("/dashboard/?days=90")
        timings.append((time.perf_counter() - started) * 1000)
    print(
        f"\nWithout roll-ups (everything counted live), 90 days: median "
        f"{statistics.median(timings):.0f} ms over 3 renders"
    )
    rollups_refresh(org=org, now=timezone.now())
    verdict = "meets" if worst <= 200 else "MISSES"
    print(f"\nWorst p95 with roll-ups: {worst:.0f} ms — {verdict} the 200 ms target.")


if __name__ == "__main__":
    main()
