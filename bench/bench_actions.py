"""The action inbox and the notice sweep at scale, on PostgreSQL.

1. The inbox of a business with 100,000 actions (a third open, the rest closed): median and
   p95 render time and SQL queries per page, for each tab, a search, a deep page and the
   largest page size. Targets: median ≤ 100 ms, at most 10 queries whatever the page size.
2. ``action_notices_sweep`` over a business with 100,000 open actions: with nothing due
   (target ≤ 1 s: the partial indexes do the work), then with 10,000 reminders due at once
   (target ≤ 60 s). Emails go to Django's locmem backend inside the bench, so this measures
   the sweep (claiming, rendering, recording each email under its key, history), not an
   email provider.

Uses its own database (``heard_bench_actions``); data are generated once with bulk_create and
reused (``--fresh`` regenerates).

    .venv/bin/python bench/bench_actions.py [--fresh] [--actions 100000]
"""

import argparse
import os
import random
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/3")

from bench.feedback_data import setup_django

DB = "heard_bench_actions"
INBOX_SLUG, SWEEP_SLUG = "bench-inbox", "bench-sweep"
RUNS = 25
WORDS = [
    "The brake pads I came for were out of stock.",
    "Nobody told me when the part would be back.",
    "The helmet was £10 more than on your website.",
    "I rang three times before anyone picked up.",
    "Queue was long on Saturday morning.",
    "Sam found me the right inner tube in two minutes.",
    "The wheel still wobbles after the repair.",
    "I was told Thursday and it was ready on Saturday.",
    "",
]


def _business(slug, name):
    from accounts.models import Membership, Organisation, User
    from surveys.models import Touchpoint

    org = Organisation.objects.create(slug=slug, name=name, timezone="Europe/London")
    members = []
    for n in range(6):
        role = Membership.Role.OWNER if n == 0 else Membership.Role.STAFF
        user = User.objects.create_user(email=f"m{n}@{slug}.example", name=f"Member {n}")
        members.append(Membership.objects.create(org=org, user=user, role=role))
    touchpoints = [
        Touchpoint.objects.create(org=org, slug=f"tp{n}", name=f"Touchpoint {n}") for n in range(4)
    ]
    return org, members, touchpoints


def _fill(org, members, touchpoints, count, *, open_share, far_future=False):
    from actions.models import Action, Kind
    from surveys.models import Customer

    rng = random.Random(4)
    now = time_now()
    batch = 5000
    kinds = [Kind.PROBLEM, Kind.PROBLEM, Kind.SUGGESTION, Kind.PRAISE]
    for start in range(0, count, batch):
        size = min(batch, count - start)
        customers = Customer.objects.bulk_create(
            [
                Customer(
                    org=org, email=f"c{start + i}@{org.slug}.example", name=f"Customer {i} Bench"
                )
                for i in range(size)
            ]
        )
        rows = []
        for i, customer in enumerate(customers):
            created = now - timedelta(minutes=rng.randint(0, 60 * 24 * 365))
            if far_future:
                due = now + timedelta(days=rng.randint(3, 30))
            else:
                due = created + timedelta(days=2)
            is_open = rng.random() < open_share
            status = (
                rng.choice(["open", "open", "open", "in_progress", "waiting"])
                if is_open
                else rng.choice(["done", "done", "done", "wont_do"])
            )
            words = WORDS[(start + i) % len(WORDS)]
            rows.append(
                Action(
                    org=org,
                    kind=rng.choice(kinds),
                    status=status,
                    owner=rng.choice(members),
                    customer=customer,
                    touchpoint=rng.choice(touchpoints),
                    words=f"{words} (#{start + i})" if words else "",
                    summary="" if words else "No: Was what you needed in stock?",
                    created_at=created,
                    updated_at=created,
                    due_at=due,
                    first_due_at=due,
                    reminder_due_at=due - timedelta(hours=24),
                    escalate_at=due + timedelta(days=1),
                    closed_at=None if is_open else created + timedelta(days=1),
                    resolution="" if is_open else "We sorted it out.",
                    closed_on_time=None if is_open else True,
                    # Old open actions have had their notices already; only new ones are pending.
                    reminder_sent_at=None if (far_future or due > now) else due,
                    overdue_sent_at=None if (far_future or due > now) else due,
                    escalated_at=None if (far_future or due > now) else due,
                )
            )
        Action.objects.bulk_create(rows)


def time_now():
    from django.utils import timezone

    return timezone.now()


def bench_inbox(org) -> bool:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from actions.models import Action

    member = org.memberships.filter(role="staff").first()
    client = Client()
    client.force_login(member.user)
    total = Action.objects.filter(org=org).count()
    open_count = Action.objects.filter(org=org).open().count()
    print(f"\nInbox: {total:,} actions ({open_count:,} open), member sees their own and the team's")
    pages = [
        ("mine", "?tab=mine"),
        ("team", "?tab=team"),
        ("overdue", "?tab=overdue"),
        ("done", "?tab=done"),
        ("team, 100 a page", "?tab=team&size=100"),
        ("done, page 200", "?tab=done&page=200"),
        ("team, search 'helmet'", "?tab=team&q=helmet"),
        (
            "done, one touchpoint, problem",
            f"?tab=done&kind=problem&touchpoint={org.touchpoints.first().code}",
        ),
        ("htmx: team", "?tab=team"),
    ]
    print(f"  {'page':<32}{'median':>9}{'p95':>9}{'queries':>9}")
    ok = True
    for label, query in pages:
        headers = {"HX-Request": "true"} if label.startswith("htmx") else {}
        url = "/inbox/" + query
        for _ in range(3):
            assert client.get(url, headers=headers).status_code == 200
        timings = []
        for _ in range(RUNS):
            started = time.perf_counter()
            response = client.get(url, headers=headers)
            timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200
        with CaptureQueriesContext(connection) as queries:
            client.get(url, headers=headers)
        median = statistics.median(timings)
        p95 = statistics.quantiles(timings, n=20)[-1]
        ok &= median <= 100 and len(queries) <= 10
        print(f"  {label:<32}{median:>7.1f}ms{p95:>7.1f}ms{len(queries):>9}")
    return ok


def bench_sweep(org) -> bool:
    from django.core import mail
    from django.db import connection

    from accounts.models import OutgoingEmail
    from actions.models import Action, ActionEvent
    from actions.notices import action_notices_sweep

    now = time_now()
    # Reset from any earlier run: every notice in the future, nothing sent.
    Action.objects.filter(org=org).update(
        reminder_sent_at=None,
        overdue_sent_at=None,
        escalated_at=None,
        reminder_due_at=now + timedelta(days=2),
        due_at=now + timedelta(days=3),
        escalate_at=now + timedelta(days=4),
        status="open",
    )
    OutgoingEmail.objects.filter(org=org).delete()
    ActionEvent.objects.filter(action__org=org).delete()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE actions_action")
    count = Action.objects.filter(org=org).open().count()
    print(f"\nNotice sweep over {count:,} open actions (locmem email backend: measures the sweep)")

    timings = []
    for _ in range(5):
        started = time.perf_counter()
        result = action_notices_sweep(now=now)
        timings.append(time.perf_counter() - started)
    assert result == {"reminder": 0, "overdue": 0, "escalation": 0}, result
    nothing_due = statistics.median(timings)
    print(f"  nothing due:          {nothing_due * 1000:8.1f} ms per sweep (median of 5)")

    due_ids = list(
        Action.objects.filter(org=org).order_by("pk").values_list("pk", flat=True)[:10_000]
    )
    Action.objects.filter(pk__in=due_ids).update(reminder_due_at=now - timedelta(minutes=1))
    mail.outbox = []
    started = time.perf_counter()
    result = action_notices_sweep(now=now)
    ten_thousand = time.perf_counter() - started
    assert result["reminder"] == 10_000, result
    assert len(mail.outbox) == 10_000
    print(
        f"  10,000 reminders due: {ten_thousand:8.1f} s "
        f"({ten_thousand / 10_000 * 1000:.1f} ms per reminder)"
    )
    started = time.perf_counter()
    result = action_notices_sweep(now=now)
    print(
        f"  the next sweep:       {(time.perf_counter() - started) * 1000:8.1f} ms, sent {result}"
    )
    return nothing_due <= 1 and ten_thousand <= 60


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--fresh", action="store_true")
    parser.add_argument("--actions", type=int, default=100_000)
    parser.add_argument("--only", choices=["inbox", "sweep"])
    args = parser.parse_args()
    setup_django(DB)
    from django.db import connection

    from accounts.models import Organisation

    if args.fresh:
        with connection.cursor() as cur:
            cur.execute("TRUNCATE accounts_organisation, accounts_user CASCADE")
    inbox = Organisation.objects.filter(slug=INBOX_SLUG).first()
    sweep = Organisation.objects.filter(slug=SWEEP_SLUG).first()
    if inbox is None or sweep is None:
        print(f"Generating {args.actions:,} + {args.actions:,} actions…")
        started = time.perf_counter()
        with connection.cursor() as cur:
            cur.execute("TRUNCATE accounts_organisation, accounts_user CASCADE")
        org, members, touchpoints = _business(INBOX_SLUG, "Bench Inbox Bikes")
        _fill(org, members, touchpoints, args.actions, open_share=0.3)
        org2, members2, touchpoints2 = _business(SWEEP_SLUG, "Bench Sweep Bikes")
        _fill(org2, members2, touchpoints2, args.actions, open_share=1.0, far_future=True)
        # What autovacuum does in production: statistics, and the visibility map that lets
        # the status counts come from the index alone.
        with connection.cursor() as cur:
            cur.execute("VACUUM ANALYZE actions_action")
        print(f"  generated in {time.perf_counter() - started:.0f} s")
        inbox, sweep = org, org2
    verdicts = []
    if args.only != "sweep":
        met = bench_inbox(inbox)
        verdicts.append(f"inbox median ≤ 100 ms and ≤ 10 queries: {'met' if met else 'MISSED'}")
    if args.only != "inbox":
        met = bench_sweep(sweep)
        verdicts.append(f"sweep ≤ 1 s idle and ≤ 60 s for 10,000: {'met' if met else 'MISSED'}")
    print("\nTargets: " + "; ".join(verdicts))


if __name__ == "__main__":
    main()
