#!/usr/bin/env python
"""Figures for the surveys app (issue 3). Not a test: it prints numbers and ratios.

Needs PostgreSQL and Redis (a database you don't mind filling with a "bench-…" business):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/heard_bench REDIS_URL=redis://127.0.0.1:6379/2 \
        .venv/bin/python bench/bench_surveys.py

What it does, all on loopback:
1. starts gunicorn (sync workers) and an aiosmtpd sink in its own process;
2. ingests BENCH_N (10,000) interactions through POST /api/v1/interactions/batch, 500 a call;
3. makes them due and sends every invitation through a real Celery worker (prefork) to the
   sink, sampling the worker's memory; then sends the same messages with a plain smtplib loop;
4. measures survey page GET and submit POST requests/s against a bare "ok" view on the same
   gunicorn, and the SQL queries each request makes.
   Each ratio is taken against a bare run made just before it, BENCH_ROUNDS (2) times over;
   the submit is also measured with the actions receiver disconnected (/bench-alone/...).
Knobs: BENCH_N, BENCH_SECONDS (per load run), BENCH_WEB_WORKERS, BENCH_CLIENTS, BENCH_ROUNDS.
"""

import contextlib
import email.policy
import http.client
import json
import multiprocessing as mp
import os
import re
import smtplib
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

N = int(os.environ.get("BENCH_N", "10000"))
SECONDS = float(os.environ.get("BENCH_SECONDS", "8"))
WEB_WORKERS = int(os.environ.get("BENCH_WEB_WORKERS", str(os.cpu_count() or 2)))
CLIENTS = int(os.environ.get("BENCH_CLIENTS", "8"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "2"))
SEND_TIMEOUT = 900


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_sink(port: int, counter, ready) -> None:
    from aiosmtpd.controller import Controller

    class Counting:
        async def handle_DATA(self, server, session, envelope):
            with counter.get_lock():
                counter.value += 1
            return "250 OK"

    controller = Controller(Counting(), hostname="127.0.0.1", port=port)
    controller.start()
    ready.set()
    while True:
        time.sleep(3600)


def rss_tree_kb(pid: int) -> tuple[int, int]:
    """(largest single process, whole tree) resident memory in kB for pid and its children."""
    pids, seen = [pid], []
    while pids:
        current = pids.pop()
        seen.append(current)
        for task in Path(f"/proc/{current}/task").glob("*"):
            with contextlib.suppress(OSError):
                pids += [int(c) for c in (task / "children").read_text().split()]
    sizes = []
    for p in seen:
        try:
            status = Path(f"/proc/{p}/status").read_text()
        except OSError:
            continue
        match = re.search(r"VmRSS:\s+(\d+)", status)
        if match:
            sizes.append(int(match.group(1)))
    return (max(sizes) if sizes else 0, sum(sizes))


def request(port, method, path, body=None, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request(method, path, body=body, headers=headers or {})
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response, data


def load(port, make_request, seconds, clients) -> float:
    """Requests per second with ``clients`` threads for ``seconds``; each request must pass."""
    stop = time.monotonic() + seconds
    counts, errors = [0] * clients, []

    def worker(index):
        while time.monotonic() < stop:
            try:
                if not make_request(index):
                    errors.append("bad status")
                    return
            except OSError as exc:
                errors.append(str(exc))
                return
            counts[index] += 1

    started = time.monotonic()
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise SystemExit(f"load run failed: {errors[:3]}")
    return sum(counts) / (time.monotonic() - started)


def main() -> int:
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        print("bench_surveys: set DATABASE_URL to a PostgreSQL database and REDIS_URL to Redis.")
        return 2
    if not os.environ.get("REDIS_URL"):
        print("bench_surveys: set REDIS_URL (the real worker needs a broker).")
        return 2
    web_port, smtp_port = free_port(), free_port()
    var_dir = tempfile.mkdtemp(prefix="heard-bench-")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "bench.surveys_settings",
        "DEBUG": "0",
        "HEARD_TESTING": "1",  # plain static storage: no collectstatic needed
        "SECRET_KEY": "bench-only-secret-key-bench-only-secret-key",
        "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
        "SECURE_SSL_REDIRECT": "0",
        "SITE_URL": f"http://127.0.0.1:{web_port}",
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(smtp_port),
        "EMAIL_USE_TLS": "0",
        "API_RATE_LIMIT_PER_MINUTE": "1000000",
        "TOKEN_GUESS_LIMIT_PER_MINUTE": "1000000",
        "HEARD_VAR_DIR": var_dir,
        "LOG_LEVEL": "WARNING",
        "PYTHONWARNINGS": "ignore",
    }
    os.environ.update(env)
    import warnings

    warnings.simplefilter("ignore")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)

    counter, ready = mp.Value("q", 0), mp.Event()
    sink = mp.Process(target=run_sink, args=(smtp_port, counter, ready), daemon=True)
    sink.start()
    ready.wait(10)
    gunicorn = subprocess.Popen(
        [
            str(ROOT / ".venv/bin/gunicorn"),
            "feedback.wsgi:application",
            "-w",
            str(WEB_WORKERS),
            "-k",
            "sync",
            "-b",
            f"127.0.0.1:{web_port}",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )
    worker = None
    try:
        for _ in range(100):
            try:
                request(web_port, "GET", "/bench-ok/")
                break
            except OSError:
                time.sleep(0.1)
        figures = run(web_port, counter, env)
        worker = figures.pop("_worker", None)
        report(figures)
    finally:
        gunicorn.terminate()
        gunicorn.wait(10)
        if worker is not None and worker.poll() is None:
            worker.terminate()
            worker.wait(10)
        sink.terminate()
    return 0


def setup_business():
    from datetime import time as clock

    from django.utils import timezone

    from accounts.models import ApiToken, Organisation
    from surveys.library import LIBRARY
    from surveys.models import Touchpoint
    from surveys.services import survey_create

    stamp = int(time.time())
    org = Organisation.objects.create(
        name=f"Bench {stamp}",
        slug=f"bench-{stamp}",
        quiet_starts=clock(0),
        quiet_ends=clock(0),
        fatigue_days=0,
        survey_reminder_days=0,
    )
    survey = survey_create(
        org=org,
        name="After your visit",
        templates=LIBRARY["retail"]["questions"],
        now=timezone.now(),
    )
    Touchpoint.objects.create(org=org, slug="visit", name="Visit", survey=survey)
    _token, raw = ApiToken.issue(org=org, name="bench")
    return org, raw, stamp


def run(port, counter, env) -> dict:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from accounts.mail import _message
    from accounts.models import OutgoingEmail
    from surveys.models import Invitation

    figures = {"n": N}
    org, token, stamp = setup_business()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    # 1. Ingest through the batch API.
    bodies = []
    for start in range(0, N, 500):
        items = [
            {
                "customer": {"email": f"c{i}-{stamp}@bench.example", "name": f"Customer {i}"},
                "touchpoint": "visit",
                "reference": f"ref-{i}",
            }
            for i in range(start, min(start + 500, N))
        ]
        bodies.append(json.dumps({"interactions": items}))
    started = time.monotonic()
    for body in bodies:
        response, data = request(port, "POST", "/api/v1/interactions/batch", body, headers)
        assert response.status == 200, data[:300]
    figures["ingest_per_s"] = N / (time.monotonic() - started)

    # 2. Send every invitation through a real worker to the sink.
    Invitation.objects.filter(org=org).update(due_at=timezone.now())
    counter.value = 0
    worker = subprocess.Popen(
        [
            str(ROOT / ".venv/bin/celery"),
            "-A",
            "feedback",
            "worker",
            "--pool=prefork",
            f"--concurrency={os.cpu_count() or 2}",
            "--without-gossip",
            "--without-mingle",
            "--loglevel=WARNING",
        ],
        cwd=ROOT,
        env={**env, "DJANGO_SETTINGS_MODULE": "feedback.settings"},
    )
    figures["_worker"] = worker
    time.sleep(4)  # let the worker connect and fork
    from surveys.tasks import send_due_invitations

    peak_one = peak_tree = 0
    started = time.monotonic()
    for _ in range(os.cpu_count() or 2):
        send_due_invitations.delay()
    while counter.value < N and time.monotonic() - started < SEND_TIMEOUT:
        one, tree = rss_tree_kb(worker.pid)
        peak_one, peak_tree = max(peak_one, one), max(peak_tree, tree)
        if worker.poll() is not None:
            raise SystemExit("the worker died")
        if not Invitation.objects.filter(org=org, status="scheduled").exists():
            # Everything is claimed; wait for the last sends without asking for more sweeps.
            pass
        time.sleep(0.2)
    elapsed = time.monotonic() - started
    figures["emails_sent"] = counter.value
    figures["emails_per_s"] = counter.value / elapsed
    figures["worker_peak_process_mb"] = peak_one / 1024
    figures["worker_peak_tree_mb"] = peak_tree / 1024
    worker.terminate()
    worker.wait(30)
    figures["outbox_rows"] = OutgoingEmail.objects.filter(org=org, sent_at__isnull=False).count()

    # 3. The same messages through a plain smtplib loop.
    messages = [
        (o.from_email, o.to, _message(o).message(policy=email.policy.SMTP).as_bytes())
        for o in OutgoingEmail.objects.filter(org=org).order_by("pk")
    ]
    counter.value = 0
    started = time.monotonic()
    with smtplib.SMTP("127.0.0.1", int(env["EMAIL_PORT"])) as smtp:
        for sender, to, raw in messages:
            smtp.sendmail(sender, [to], raw)
    figures["smtplib_per_s"] = len(messages) / (time.monotonic() - started)

    # 4. The survey page under gunicorn, against a bare view.
    invitations = list(
        Invitation.objects.filter(org=org, status="sent").select_related("survey_version")[:CLIENTS]
    )
    questions = list(invitations[0].survey_version.questions.all())

    def bare(_i):
        response, _ = request(port, "GET", "/bench-ok/")
        return response.status == 200

    def page(i):
        response, _ = request(port, "GET", f"/s/{invitations[i].token}/")
        return response.status == 200

    sessions = []
    for invitation in invitations:
        response, data = request(port, "GET", f"/s/{invitation.token}/")
        cookie = re.search(r"csrftoken=([^;]+)", response.getheader("Set-Cookie") or "").group(1)
        form_token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', data).group(1)
        sessions.append((invitation.token, cookie, form_token.decode(), [0]))

    def submit(i, prefix=""):
        token, cookie, form_token, flip = sessions[i]
        flip[0] += 1
        from urllib.parse import urlencode

        answer = "yes" if flip[0] % 2 else "no"
        body = urlencode(
            {
                "csrfmiddlewaretoken": form_token,
                f"q-{questions[0].key}": answer,
                f"q-{questions[1].key}": "yes",
                "verbatim": f"Words {flip[0]}",
                "consent": "yes",
            }
        )
        response, _ = request(
            port,
            "POST",
            f"{prefix}/s/{token}/",
            body,
            {"Content-Type": "application/x-www-form-urlencoded", "Cookie": f"csrftoken={cookie}"},
        )
        return response.status == 302

    def submit_alone(i):
        return submit(i, prefix="/bench-alone")

    load(port, bare, 1, CLIENTS)  # warm up every worker
    load(port, page, 1, CLIENTS)
    # Each ratio is taken against a bare run just before it, twice over: the machine is shared.
    figures["rounds"] = []
    for _ in range(ROUNDS):
        figures["rounds"].append(
            {
                "bare": load(port, bare, SECONDS, CLIENTS),
                "get": load(port, page, SECONDS, CLIENTS),
                "bare_2": load(port, bare, SECONDS, CLIENTS),
                "post": load(port, submit, SECONDS, CLIENTS),
                "post_alone": load(port, submit_alone, SECONDS, CLIENTS),
            }
        )

    from actions.receivers import route_submitted_response
    from surveys.signals import response_submitted

    client = Client()
    url = f"/s/{invitations[0].token}/"
    with CaptureQueriesContext(connection) as get_queries:
        assert client.get(url).status_code == 200
    figures["get_queries"] = len(get_queries.captured_queries)
    for key, answer in (("post_queries", "no"), ("post_alone_queries", "yes")):
        if key == "post_alone_queries":
            response_submitted.disconnect(dispatch_uid="actions.route_response")
        with CaptureQueriesContext(connection) as post_queries:
            response = client.post(
                url,
                {
                    f"q-{questions[0].key}": answer,
                    "verbatim": f"Changed: {answer}",
                    "consent": "yes",
                },
            )
            assert response.status_code == 302
        figures[key] = len(post_queries.captured_queries)
    response_submitted.connect(route_submitted_response, dispatch_uid="actions.route_response")
    return figures


def report(f: dict) -> None:
    mail_ratio = f["emails_per_s"] / f["smtplib_per_s"]

    def verdict(ok):
        return "met" if ok else "NOT met"

    print(
        f"Surveys bench: {f['n']:,} interactions, {WEB_WORKERS} gunicorn sync workers, "
        f"{CLIENTS} client threads, {os.cpu_count()} CPUs"
    )
    print(
        f"  batch ingest         {f['ingest_per_s']:8.0f} interactions/s   target ≥ 1,000: "
        f"{verdict(f['ingest_per_s'] >= 1000)}"
    )
    print(
        f"  worker sends         {f['emails_per_s']:8.0f} emails/s ({f['emails_sent']:,} "
        f"received by the sink, {f['outbox_rows']:,} outbox rows sent)"
    )
    print(f"  plain smtplib loop   {f['smtplib_per_s']:8.0f} emails/s")
    print(f"  emails/s ratio       {mail_ratio:8.2f}×   target ≥ 0.5: {verdict(mail_ratio >= 0.5)}")
    print(
        f"  worker peak memory   {f['worker_peak_process_mb']:8.0f} MB largest process, "
        f"{f['worker_peak_tree_mb']:.0f} MB all processes   target < 200 MB: "
        f"{verdict(f['worker_peak_process_mb'] < 200)}"
    )
    for n, r in enumerate(f["rounds"], start=1):
        get_ratio = r["get"] / r["bare"]
        post_ratio = r["post"] / r["bare_2"]
        alone_ratio = r["post_alone"] / r["bare_2"]
        print(f"  round {n}: bare 'ok' view {r['bare']:6.0f} req/s, then {r['bare_2']:.0f} req/s")
        print(
            f"    survey page GET    {r['get']:6.0f} req/s  {get_ratio:.2f}× bare   "
            f"target ≥ 0.4: {verdict(get_ratio >= 0.4)}"
        )
        print(
            f"    survey submit POST {r['post']:6.0f} req/s  {post_ratio:.2f}× bare   "
            f"target ≥ 0.2: {verdict(post_ratio >= 0.2)}"
        )
        print(
            f"      without the actions receiver {r['post_alone']:6.0f} req/s  "
            f"{alone_ratio:.2f}× bare"
        )
    print(
        f"  queries: page GET {f['get_queries']} (≤ 6: {verdict(f['get_queries'] <= 6)}); "
        f"submit POST {f['post_queries']} (≤ 6: {verdict(f['post_queries'] <= 6)}), of which "
        f"surveys {f['post_alone_queries']} and the actions receiver "
        f"{f['post_queries'] - f['post_alone_queries']}"
    )


if __name__ == "__main__":
    sys.exit(main())
