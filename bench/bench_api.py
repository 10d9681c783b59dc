"""The ingest API in one process: requests per second and SQL statements per request for a
single POST (new and repeated reference) and a batch of 100 (new and repeated), through
Django's test client with the whole middleware stack. Everything it writes is rolled back.

Statements are those Django's cursor runs, less the SAVEPOINT/RELEASE pairs that the bench's
own outer transaction turns each atomic block into (in production, in autocommit, an atomic
block is a BEGIN/COMMIT on the connection, not a cursor statement).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/<db> .venv/bin/python bench/bench_api.py

For throughput over HTTP, run gunicorn and point wrk at it (see --wrk-lua).
"""

import json
import os
import sys
import time
import uuid
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

SINGLE = 400
BATCHES = 20
BATCH_SIZE = 100


def main():
    from accounts.models import ApiToken, Membership, Organisation, User
    from tests.factories import make_touchpoint

    settings.HEARD = {**settings.HEARD, "API_RATE_LIMIT_PER_MINUTE": 10**9}
    settings.ALLOWED_HOSTS = ["testserver"]
    run = uuid.uuid4().hex[:8]
    org = Organisation.objects.create(name="Bench API", slug=f"bench-api-{run}")
    user = User.objects.create_user(email=f"bench-api-{run}@example.com", password="x")
    owner = Membership.objects.create(org=org, user=user, role=Membership.Role.OWNER)
    make_touchpoint(org, slug="repair")
    _token, raw = ApiToken.issue(org=org, name="Bench", created_by=owner)
    client = Client()
    auth = {"HTTP_AUTHORIZATION": f"Bearer {raw}"}

    def post(path, data):
        return client.post(path, json.dumps(data), content_type="application/json", **auth)

    def row(n):
        return {
            "customer": {"email": f"c{n}@example.com", "name": "Pat"},
            "touchpoint": "repair",
            "reference": f"{run}-{n}",
        }

    def measure(label, count, send, expect):
        send(0)  # warm: the first call of each kind loads code and caches
        with CaptureQueriesContext(connection) as queries:
            status = send(1).status_code
        assert status == expect, (label, status)
        statements = sum(
            not q["sql"].startswith(("SAVEPOINT", "RELEASE SAVEPOINT"))
            for q in queries.captured_queries
        )
        started = time.perf_counter()
        for n in range(2, count + 2):
            send(n)
        per_second = count / (time.perf_counter() - started)
        print(f"{label}: {per_second:,.0f} requests/s, {statements} SQL statements a request")

    measure(
        "single POST, new reference",
        SINGLE,
        lambda n: post("/api/v1/interactions", row(f"s{n}")),
        201,
    )
    measure(
        "single POST, repeated reference",
        SINGLE,
        lambda n: post("/api/v1/interactions", row("s1")),
        200,
    )
    measure(
        f"batch of {BATCH_SIZE}, new references",
        BATCHES,
        lambda n: post(
            "/api/v1/interactions/batch",
            {"interactions": [row(f"b{n}-{i}") for i in range(BATCH_SIZE)]},
        ),
        200,
    )
    measure(
        f"batch of {BATCH_SIZE}, repeated references",
        BATCHES,
        lambda n: post(
            "/api/v1/interactions/batch",
            {"interactions": [row(f"b1-{i}") for i in range(BATCH_SIZE)]},
        ),
        200,
    )


if __name__ == "__main__":
    call_command("migrate", verbosity=0)
    with transaction.atomic():
        main()
        transaction.set_rollback(True)
