"""The public wall of a business with 10,000 entries under gunicorn, against a bare Django
view that returns "ok" through the same middleware and server settings.

Prints requests per second for both and their ratio (target: the wall ≥ 0.7× the bare view).
Loopback only; every load loop is bounded by time. Uses the ``heard_bench_feedback``
database (the entries are generated once and reused; ``--fresh`` regenerates them) and Redis
db 4 for the cache.

    .venv/bin/python bench/bench_wall.py [--seconds 6] [--fresh] [--recheck 0]

``--recheck N`` sets ``HEARD["WALL_RECHECK_SECONDS"]``: 0 (the default) checks every request
against the database, so a withdrawn consent comes down at once; N > 0 lets a worker serve a
page it checked less than N seconds ago without asking.
"""

import argparse
import http.client
import multiprocessing
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.feedback_data import ROOT, fill, make_business, setup_django, step

SLUG = "bench-wall"
ENTRIES = 10_000
CLIENTS = 4


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _load(args) -> int:
    """One client process: GET ``paths`` in turn until ``seconds`` pass; return successes."""
    port, paths, seconds = args
    done, deadline, index = 0, time.monotonic() + seconds, 0
    while time.monotonic() < deadline:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            conn.request("GET", paths[index % len(paths)], headers={"Host": "127.0.0.1"})
            response = conn.getresponse()
            response.read()
            done += response.status == 200
        finally:
            conn.close()
        index += 1
    return done


def _rate(pool, port: int, paths: list[str], seconds: float) -> float:
    started = time.monotonic()
    total = sum(pool.map(_load, [(port, paths, seconds)] * CLIENTS))
    return total / (time.monotonic() - started)


def _make_wall(fresh: bool):
    from django.db import connection

    from accounts.models import Organisation
    from feedback.models import WallEntry

    org = Organisation.objects.filter(slug=SLUG).first()
    if org is not None and (fresh or WallEntry.objects.filter(org=org).count() < ENTRIES):
        with step("dropping the old wall business"):
            org.delete()
        org = None
    if org is not None:
        return org
    print("Generating data:")
    business = make_business(SLUG, "Wall Bench Cycles", wall=True)
    org = business[0]
    # 13,000 invitations → ~11,800 consented responses, each with an action; ~90% done.
    fill(
        *business, invitations=13_000, days=365, response_every=11, action_every=1, consent_every=1
    )
    with step(f"{ENTRIES:,} wall entries"), connection.cursor() as cur:
        cur.execute(
            """INSERT INTO feedback_wallentry (code, org_id, action_id, response_id, quote,
                   original_quote, attribution, touchpoint_id, touchpoint_name, month,
                   what_we_did, published_at, published_by_id, unpublished_at)
               SELECT gen_random_uuid(), a.org_id, a.id, r.id,
                      'The bench customer wrote these words, number ' || r.id,
                      'The bench customer wrote these words, number ' || r.id,
                      'Customer B.', a.touchpoint_id, t.name,
                      date_trunc('month', r.submitted_at)::date, a.resolution,
                      a.closed_at, NULL, NULL
               FROM actions_action a
               JOIN surveys_response r ON r.id = a.response_id
               JOIN surveys_touchpoint t ON t.id = a.touchpoint_id
               WHERE a.org_id = %s AND a.status = 'done'
               ORDER BY a.closed_at DESC LIMIT %s""",
            [org.pk, ENTRIES],
        )
        cur.execute("ANALYZE feedback_wallentry")
    return org


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--fresh", action="store_true")
    parser.add_argument("--recheck", type=float, default=0.0)
    args = parser.parse_args()
    setup_django()
    from feedback.models import WallEntry

    org = _make_wall(args.fresh)
    live = WallEntry.objects.filter(org=org).live().count()
    print(f"Wall of {org.name}: {live:,} live entries")

    port = _free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "bench.feedback_settings",
        "BENCH_WALL_RECHECK": str(args.recheck),
    }
    server = subprocess.Popen(
        [
            str(ROOT / ".venv/bin/gunicorn"),
            "feedback.wsgi:application",
            "-w",
            "2",
            "-k",
            "sync",
            "-b",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )
    try:
        for _ in range(100):  # up to 10 s for the server to listen
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        wall = f"/wall/{SLUG}/"
        for path in ("/bench-ok/", wall, wall + "?page=2", wall + "feed/", wall + "embed/"):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            conn.request("GET", path, headers={"Host": "127.0.0.1"})
            response = conn.getresponse()
            body = response.read()
            conn.close()
            assert response.status == 200, (path, response.status, body[:300])
        pages = [wall] + [f"{wall}?page={n}" for n in range(2, 6)]
        with multiprocessing.Pool(CLIENTS) as pool:
            _rate(pool, port, ["/bench-ok/"], 1.0)  # warm up both workers
            bare, first, spread = [], [], []
            for _ in range(2):  # alternate, so drift in machine load hits both alike
                bare.append(_rate(pool, port, ["/bench-ok/"], args.seconds))
                first.append(_rate(pool, port, [wall], args.seconds))
                spread.append(_rate(pool, port, pages, args.seconds))
        bare_rps = sum(bare) / len(bare)
        mode = (
            f"rechecked at most every {args.recheck:g} s per worker"
            if args.recheck
            else "every request checked against the database"
        )
        print(
            f"\ngunicorn, 2 sync workers, {CLIENTS} client processes, loopback, "
            f"{2 * args.seconds:.0f} s per figure; wall {mode}:"
        )
        print(f"  bare Django view:        {bare_rps:7.0f} requests/s")
        for label, rates in (("wall, first page", first), ("wall, pages 1-5", spread)):
            rps = sum(rates) / len(rates)
            print(
                f"  {label + ':':<24} {rps:7.0f} requests/s  = {rps / bare_rps:.2f}× the bare view"
            )
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
