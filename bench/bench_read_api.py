"""Paging through 100,000 actions of one business with GET /api/v1/actions (100 a page):
milliseconds per page for the first and last pages, and SQL statements per page, through
Django's test client with the whole middleware stack. Rows are made with bulk_create beside
a second business's 10,000, and everything is rolled back.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/<db> .venv/bin/python bench/bench_read_api.py
"""

import os
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

import django

django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402

ROWS = 100_000
PAGE = 100


def _business(run: str, name: str, rows: int):
    from accounts.models import Organisation
    from actions.models import Action
    from surveys.models import Customer

    org = Organisation.objects.create(name=name, slug=f"{name.lower()}-{run}")
    customer = Customer.objects.create(org=org, email=f"{run}@example.com")
    now = timezone.now()
    for start in range(0, rows, 10_000):
        Action.objects.bulk_create(
            Action(
                org=org,
                customer=customer,
                words=f"row {n}",
                # Seconds apart, with ties every few rows: the id orders those.
                created_at=now - timedelta(seconds=n // 3),
                due_at=now,
                first_due_at=now,
            )
            for n in range(start, min(start + 10_000, rows))
        )
    return org


def main():
    from accounts.models import ApiToken

    settings.HEARD = {**settings.HEARD, "API_RATE_LIMIT_PER_MINUTE": 10**9}
    settings.ALLOWED_HOSTS = ["testserver"]
    run = uuid.uuid4().hex[:8]
    org = _business(run, "Bench", ROWS)
    _business(run, "Other", ROWS // 10)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE actions_action")
    _token, raw = ApiToken.issue(org=org, name="Bench", scopes=["read"])
    client = Client()
    auth = {"HTTP_AUTHORIZATION": f"Bearer {raw}"}
    url, timings, statements, pages = f"/api/v1/actions?limit={PAGE}", [], set(), 0
    client.get(url, **auth)  # warm, and notes the token's last use
    while url:
        with CaptureQueriesContext(connection) as queries:
            started = time.perf_counter()
            body = client.get(url, **auth).json()
            timings.append((time.perf_counter() - started) * 1000)
        statements.add(len(queries.captured_queries))
        url, pages = body["next"], pages + 1
    first, last = timings[:10], timings[-10:]
    print(f"{pages} pages of {PAGE} ({ROWS:,} actions)")
    print(f"first 10 pages: {sum(first) / len(first):.1f} ms a page")
    print(f"last 10 pages: {sum(last) / len(last):.1f} ms a page")
    print(f"SQL statements a page: {sorted(statements)}")


if __name__ == "__main__":
    call_command("migrate", verbosity=0)
    with transaction.atomic():
        main()
        transaction.set_rollback(True)
