#!/usr/bin/env python
"""Heard's fault rig. ``make chaos`` runs every scenario (10-15 minutes); ``make chaos-fast``
(``chaos/run.py --fast``) a worker kill during a few hundred sends plus the API fuzz (under
3 minutes).

It needs nothing running but PostgreSQL: it creates a database of its own on the server
DATABASE_URL names (default postgres://postgres@127.0.0.1:5432/), starts a throwaway
redis-server on a free port, an SMTP sink in this process, gunicorn, a Celery worker and
Celery beat with the app's settings, and stops and drops all of it at the end. Without
PostgreSQL it runs the fast subset on SQLite (and Redis if redis-server is installed, else
Celery's file broker): the worker kill and the fuzz mean the same there.

It prints one table (scenario, sent, received, distinct, duplicates, lost, 5xx, drain time)
and exits 1 when a target is missed: 0 lost, at most 1 duplicate per killed worker process
(per terminated worker connection), 0 5xx, every outage drained within 2 minutes.
Exit 2: the rig itself could not run.
"""

import argparse
import io
import json
import os
import shutil
import signal
import sys
import tempfile
import time
import traceback
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from chaos import scenarios  # noqa: E402
from chaos.procs import Stack, free_port  # noqa: E402
from chaos.sink import Sink  # noqa: E402

DEFAULT_SERVER = "postgres://postgres@127.0.0.1:5432/postgres"


def _server_url() -> str | None:
    """The PostgreSQL server to create the rig's database on, or None for SQLite."""
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith(("postgres://", "postgresql://", "pgsql://")):
        return url
    if url:
        return None  # pointed at SQLite on purpose
    try:
        import psycopg2

        psycopg2.connect(_dsn(DEFAULT_SERVER, "postgres"), connect_timeout=3).close()
        return DEFAULT_SERVER
    except Exception:
        return None


def _with_db(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", "", ""))


def _dsn(url: str, name: str) -> str:
    parts = urlsplit(url)
    dsn = f"dbname={name} host={parts.hostname or '127.0.0.1'} port={parts.port or 5432}"
    if parts.username:
        dsn += f" user={parts.username}"
    if parts.password:
        dsn += f" password={parts.password}"
    return dsn


def _admin(url: str, sql: str) -> None:
    import psycopg2

    conn = psycopg2.connect(_dsn(url, "postgres"), connect_timeout=10)
    conn.autocommit = True
    try:
        with conn.cursor() as cursor:
            cursor.execute(sql)
    finally:
        conn.close()


def _setup_business(fast_slug_hint: str = "") -> dict:
    """Migrate, load the demo business, and make one touchpoint send at once."""
    from django.core.management import call_command

    from accounts.models import Organisation
    from surveys.models import Touchpoint

    call_command("migrate", verbosity=0, interactive=False)
    out = io.StringIO()
    call_command("demo", "--json", "--force", stdout=out)
    demo = json.loads(out.getvalue().strip().splitlines()[-1])
    org = Organisation.objects.get(slug=demo["org_slug"])
    # Quiet hours off: the rig runs at any hour and needs the invitations due now.
    org.quiet_ends = org.quiet_starts
    org.save(update_fields=["quiet_ends"])
    touchpoint = (
        Touchpoint.objects.filter(org=org, active=True, survey__isnull=False).order_by("pk").first()
    )
    touchpoint.send_delay_minutes = 0
    touchpoint.save(update_fields=["send_delay_minutes"])
    return {
        "token": demo["api_token"],
        "touchpoint": touchpoint.slug,
        "touchpoints": [t["slug"] for t in demo["touchpoints"]],
        "staff": demo["staff"][0]["email"],
    }


def _fmt(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return "never" if value == float("inf") else f"{value:.1f} s"
    return str(value)


def print_table(rows: list[scenarios.Row]) -> None:
    head = ["scenario", "sent", "received", "distinct", "duplicates", "lost", "5xx", "drain"]
    head.append("result")
    lines = []
    for row in rows:
        dup = _fmt(row.duplicates)
        if row.duplicates is not None:
            dup += f" (≤{row.allowed_duplicates})"
        lines.append(
            [
                row.scenario,
                _fmt(row.sent),
                _fmt(row.received),
                _fmt(row.distinct),
                dup,
                _fmt(row.lost),
                _fmt(row.errors_5xx),
                _fmt(row.drain),
                "PASS" if not row.failures else "FAIL: " + "; ".join(row.failures),
            ]
        )
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(head)]
    rule = "+".join("-" * (w + 2) for w in widths)

    def fmt(cells):
        return "|".join(f" {c:<{w}} " for c, w in zip(cells, widths, strict=True))

    print()
    print(fmt(head))
    print(rule)
    for line in lines:
        print(fmt(line))
    print()
    for row in rows:
        if row.notes:
            print(f"{row.scenario}:")
            for note in row.notes:
                print(f"  {note}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fast", action="store_true", help="a kill during ~300 sends + fuzz")
    parser.add_argument(
        "--only", default="", help="comma-separated scenario letters to run (a,b,c,d,e,f)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the database and logs")
    args = parser.parse_args(argv)

    def _terminate(signum, frame):
        raise SystemExit(f"stopped by signal {signum}")

    signal.signal(signal.SIGTERM, _terminate)

    started = time.monotonic()
    server = _server_url()
    redis_bin = shutil.which("redis-server")
    (ROOT / "var" / "chaos").mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="run-", dir=ROOT / "var" / "chaos"))
    db_name = f"heard_chaos_{os.getpid()}"
    database_url = _with_db(server, db_name) if server else f"sqlite:///{work / 'chaos.sqlite3'}"
    web_port, smtp_port = free_port(), free_port()
    redis_port = free_port() if redis_bin else None
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "feedback.settings",
        "DEBUG": "0",
        "HEARD_TESTING": "1",  # plain static storage: no collectstatic needed
        "SECRET_KEY": "chaos-only-secret-key-chaos-only-secret-key-chaos-only",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "0",
        "SITE_URL": f"http://127.0.0.1:{web_port}",
        "DATABASE_URL": database_url,
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(smtp_port),
        "EMAIL_USE_TLS": "0",
        "EMAIL_TIMEOUT": "10",
        "API_RATE_LIMIT_PER_MINUTE": "1000000",
        "TOKEN_GUESS_LIMIT_PER_MINUTE": "1000000",
        "HEARD_VAR_DIR": str(work / "var"),
        "LOG_LEVEL": "WARNING",
        "PYTHONWARNINGS": "ignore",
    }
    for name in ("EMAIL_BACKEND", "ANYMAIL_PROVIDER", "SENTRY_DSN", "CELERY_BROKER_URL"):
        env.pop(name, None)
    if redis_port:
        env["REDIS_URL"] = f"redis://127.0.0.1:{redis_port}/0"
    else:
        env.pop("REDIS_URL", None)
        for folder in ("mail", "celery/queue", "celery/processed"):
            (work / "var" / folder).mkdir(parents=True, exist_ok=True)
    os.environ.clear()
    os.environ.update(env)

    where = f"PostgreSQL database {db_name}" if server else "SQLite (no PostgreSQL URL)"
    broker = f"redis-server :{redis_port}" if redis_port else "Celery's file broker"
    mode = "fast subset" if args.fast else "every scenario"
    print(f"chaos: {mode} on {where}, {broker}, SMTP sink :{smtp_port}, web :{web_port}")
    print(f"chaos: logs in {work}", flush=True)

    wanted = set(filter(None, args.only.split(",")))
    plan = ["a", "f"] if args.fast else ["a", "b", "c", "d", "e", "f"]
    if wanted:
        plan = [p for p in plan if p in wanted]
    if not server:
        plan = [p for p in plan if p != "d"]  # pg_terminate_backend needs PostgreSQL
    if not redis_port:
        plan = [p for p in plan if p != "c"]  # no Redis to take down

    rows: list[scenarios.Row] = []
    stack = sink = None
    created_db = False
    try:
        if server:
            _admin(server, f'CREATE DATABASE "{db_name}"')
            created_db = True
        import django

        django.setup()
        business = _setup_business()
        sink = Sink(smtp_port).start()
        stack = Stack(env, work, redis_port=redis_port, web_port=web_port)
        stack.start_redis()
        stack.start_web()
        stack.start_worker()
        stack.start_beat()
        rig = scenarios.Rig(
            stack,
            sink,
            business["token"],
            business["touchpoint"],
            business["staff"],
            db_name if server else None,
        )
        runs = {
            "a": lambda: (
                scenarios.worker_kills(rig, "a. worker SIGKILL x1, 300 sends", 300, 1, 0.01)
                if args.fast
                else scenarios.worker_kills(rig, "a. worker SIGKILL x3, 2000 sends", 2000, 3, 0.01)
            ),
            "b": lambda: scenarios.smtp_outage(rig),
            "c": lambda: scenarios.redis_outage(rig),
            "d": lambda: scenarios.pg_kills(rig),
            "e": lambda: scenarios.two_beats(rig),
            "f": lambda: scenarios.api_fuzz(rig, business["touchpoints"]),
        }
        for letter in plan:
            t0 = time.monotonic()
            print(f"chaos: scenario {letter} …", flush=True)
            try:
                row = runs[letter]()
            except Exception as exc:
                traceback.print_exc()
                row = scenarios.Row(f"{letter}. (rig error)")
                row.failures.append(f"rig error: {type(exc).__name__}: {exc}")
            # The rig's domains are per scenario: "a.chaos.example" is only a's.
            row.judge()
            rows.append(row)
            status = "PASS" if not row.failures else "FAIL"
            print(f"chaos: scenario {letter} {status} in {time.monotonic() - t0:.0f} s", flush=True)
    except Exception as exc:
        traceback.print_exc()
        print(f"chaos: the rig could not run: {exc}", file=sys.stderr)
        return 2
    finally:
        if stack is not None:
            stack.stop_all()
        if sink is not None:
            sink.stop()
        try:
            from django.db import connections

            connections.close_all()
        except Exception:
            pass
        if created_db and not args.keep:
            try:
                _admin(server, f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
            except Exception as exc:
                print(f"chaos: could not drop {db_name}: {exc}", file=sys.stderr)
        if rows:
            print_table(rows)
        print(f"chaos: finished in {time.monotonic() - started:.0f} s")
    failed = [row for row in rows if row.failures]
    if failed:
        print(f"chaos: {len(failed)} of {len(rows)} scenarios missed a target (logs: {work})")
        return 1
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    print("chaos: every target met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
