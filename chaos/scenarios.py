"""The scenarios: each makes a fault happen to real processes and measures what the
customers' mailboxes (the sink) got. Every scenario uses its own recipient domain, so its
counts are its own."""

import http.client
import json
import threading
import time
from dataclasses import dataclass, field

from . import fuzz
from .procs import Stack, wait_for
from .sink import Sink

DRAIN_LIMIT = 120.0  # seconds an outage may take to drain
DRAIN_WAIT = 180.0  # how long the rig waits before it calls the rest lost
SETTLE = 5.0  # seconds to keep watching for late duplicates once everything arrived


@dataclass
class Row:
    scenario: str
    sent: int | None = None
    received: int | None = None
    distinct: int | None = None
    duplicates: int | None = None
    lost: int | None = None
    errors_5xx: int | None = None
    drain: float | None = None  # seconds; inf: never drained
    allowed_duplicates: int = 0
    notes: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def judge(self) -> None:
        if self.lost:
            self.failures.append(f"{self.lost} lost")
        if self.duplicates is not None and self.duplicates > self.allowed_duplicates:
            self.failures.append(
                f"{self.duplicates} duplicates > {self.allowed_duplicates} allowed"
            )
        if self.errors_5xx:
            self.failures.append(f"{self.errors_5xx} 5xx")
        if self.drain is not None and self.drain > DRAIN_LIMIT:
            self.failures.append(f"drain over {DRAIN_LIMIT:.0f} s")


class Rig:
    """What every scenario needs: the processes, the sink, the demo business's API token."""

    def __init__(self, stack: Stack, sink: Sink, token: str, touchpoint: str, staff: str, db):
        self.stack = stack
        self.sink = sink
        self.token = token
        self.touchpoint = touchpoint  # sends at once (0-minute delay)
        self.staff = staff
        self.db = db  # the rig's own database name, or None on SQLite

    # --- The API ----------------------------------------------------------------------------

    def post(self, path: str, payload, timeout: float = 120) -> tuple[int, dict]:
        conn = http.client.HTTPConnection("127.0.0.1", self.stack.web_port, timeout=timeout)
        try:
            conn.request(
                "POST",
                path,
                body=json.dumps(payload).encode(),
                headers={
                    "Authorization": f"Bearer {self.token}",
                    "Content-Type": "application/json",
                },
            )
            response = conn.getresponse()
            data = response.read()
        finally:
            conn.close()
        try:
            return response.status, json.loads(data)
        except ValueError:
            return response.status, {}

    def item(self, email: str) -> dict:
        return {
            "customer": {"email": email, "name": "Chaos Customer"},
            "touchpoint": self.touchpoint,
            "staff": self.staff,
            "reference": f"ref-{email}",
        }

    def ingest(self, domain: str, count: int) -> set[str]:
        """Record ``count`` interactions through the batch API; return the emails created."""
        emails = [f"c{n:05d}@{domain}" for n in range(count)]
        created, refused = set(), None
        for start in range(0, count, 500):
            chunk = emails[start : start + 500]
            status, data = self.post(
                "/api/v1/interactions/batch", {"interactions": [self.item(e) for e in chunk]}
            )
            if status != 200:
                raise RuntimeError(f"batch ingest answered {status}: {data}")
            for result in data["results"]:
                if result["status"] == 201:
                    created.add(chunk[result["index"]])
                else:
                    refused = result
        if len(created) < count:
            raise RuntimeError(f"the API created {len(created)} of {count}: {refused}")
        return created

    # --- Celery -----------------------------------------------------------------------------

    def nudge(self) -> None:
        """Start an invitation sweep now rather than waiting up to a minute for beat: the
        sweeps are built to run at any moment, in parallel."""
        from feedback.celery import app

        try:
            app.send_task("surveys.tasks.send_due_invitations", expires=55, retry=False)
            app.send_task("accounts.tasks.send_queued_emails", expires=9, retry=False)
        except Exception as exc:  # Redis down: beat will do it once it is back
            print(f"    (nudge failed: {type(exc).__name__})", flush=True)

    def restart_worker(self) -> int:
        """SIGKILL the worker (and its pool), start a new one. Returns the pool processes
        killed: each may have been in the middle of handing over one email."""
        worker = self.stack.worker
        children = len(worker.children()) if worker else 0
        killed = worker.kill() if worker else 0
        time.sleep(1)
        self.stack.start_worker()
        return max(children, 1) if killed else 0

    # --- Measuring --------------------------------------------------------------------------

    def sent_count(self, domain: str) -> int:
        from django.db import close_old_connections

        from accounts.models import OutgoingEmail

        close_old_connections()
        return OutgoingEmail.objects.filter(
            to__endswith=f"@{domain}", sent_at__isnull=False
        ).count()

    def drain(self, domain: str, expected: set[str], since: float, *, nudge_every=15.0) -> float:
        """Wait until every expected address got its invitation; return seconds since
        ``since`` (inf if not within DRAIN_WAIT)."""
        deadline = since + DRAIN_WAIT
        last_nudge = time.monotonic()
        while time.monotonic() < deadline:
            stats = self.sink.stats(f"@{domain}", expected)
            if stats["lost"] == 0:
                return max(0.0, stats["last_at"] - since) if stats["last_at"] else 0.0
            if nudge_every and time.monotonic() - last_nudge > nudge_every:
                self.nudge()
                last_nudge = time.monotonic()
            time.sleep(0.25)
        return float("inf")

    def measure(self, row: Row, domain: str, expected: set[str], since: float) -> Row:
        row.drain = self.drain(domain, expected, since)
        time.sleep(SETTLE)
        stats = self.sink.stats(f"@{domain}", expected)
        row.sent = self.sent_count(domain)
        row.received = stats["received"]
        row.distinct = stats["distinct"]
        row.duplicates = stats["duplicates"]
        row.lost = stats["lost"]
        row.notes.append(
            f"{len(expected)} expected; duplicates by Message-ID {stats['dup_message_id']}, "
            f"by recipient+kind {stats['duplicates']}"
        )
        return row


def worker_kills(rig: Rig, name: str, count: int, kills: int, delay: float) -> Row:
    """a. SIGKILL the worker ``kills`` times while it sends ``count`` invitations."""
    domain = "a.chaos.example"
    row = Row(name)
    rig.sink.delay = delay
    expected = rig.ingest(domain, count)
    rig.nudge()
    killed_processes = 0
    last = time.monotonic()
    for k in range(kills):
        # Off the 50-email batch boundaries, so each kill lands in the middle of a batch.
        threshold = int(count * (0.15 + 0.55 * k / max(kills - 1, 1))) + 17
        if not wait_for(lambda t=threshold: rig.sink.count(f"@{domain}") >= t, 120, 0.02):
            row.failures.append(f"kill {k + 1} never happened: sending stalled before {threshold}")
            continue
        at = rig.sink.count(f"@{domain}")
        killed_processes += rig.restart_worker()
        row.notes.append(f"kill {k + 1} at {at} received")
        last = time.monotonic()
        rig.nudge()
    rig.sink.delay = 0.0
    row.allowed_duplicates = killed_processes
    row.notes.append(f"{killed_processes} pool processes killed")
    return rig.measure(row, domain, expected, last)


def smtp_outage(rig: Rig, count: int = 300, seconds: float = 30) -> Row:
    """b. The SMTP server answers 451, then 421, for a minute in all; then takes mail again."""
    domain = "b.chaos.example"
    row = Row("b. SMTP 451 then 421")
    rig.sink.delay = 0.01
    expected = rig.ingest(domain, count)
    rig.nudge()
    wait_for(lambda: rig.sink.count(f"@{domain}") >= count // 5, 120, 0.02)
    refused = rig.sink.refused
    rig.sink.mode = "451"
    time.sleep(seconds)
    rig.sink.mode = "421"
    time.sleep(seconds)
    rig.sink.mode = "ok"
    rig.sink.delay = 0.0
    row.notes.append(f"{rig.sink.refused - refused} SMTP commands refused")
    return rig.measure(row, domain, expected, time.monotonic())


def redis_outage(rig: Rig, seconds: float = 30) -> Row:
    """c. Redis killed for ``seconds`` while the API ingests one interaction at a time."""
    domain = "c.chaos.example"
    row = Row("c. Redis down during ingest")
    statuses: dict[int, int] = {}
    expected: set[str] = set()
    stop = threading.Event()

    def ingest():
        n = 0
        while not stop.is_set():
            email = f"c{n:05d}@{domain}"
            n += 1
            try:
                status, _ = rig.post("/api/v1/interactions", rig.item(email), timeout=30)
            except OSError:
                status = 0
            statuses[status] = statuses.get(status, 0) + 1
            if status == 201:
                expected.add(email)
            time.sleep(0.05)

    thread = threading.Thread(target=ingest)
    thread.start()
    time.sleep(5)
    rig.stack.kill_redis()
    time.sleep(seconds)
    rig.stack.start_redis()
    back = time.monotonic()
    time.sleep(5)
    stop.set()
    thread.join()
    rig.nudge()
    row.errors_5xx = sum(n for s, n in statuses.items() if s >= 500 or s == 0)
    row.notes.append(f"API answers: {dict(sorted(statuses.items()))} (0: no answer)")
    others = sum(n for s, n in statuses.items() if s != 201 and not (s >= 500 or s == 0))
    if others:
        row.failures.append(f"{others} API answers neither 201 nor 5xx")
    return rig.measure(row, domain, expected, back)


def _worker_backends(rig: Rig) -> list[tuple[int, str]]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid, state FROM pg_stat_activity WHERE datname = %s "
            "AND application_name = 'heard-chaos-worker' AND pid <> pg_backend_pid()",
            [rig.db],
        )
        return cursor.fetchall()


def pg_kills(rig: Rig, count: int = 600, kills: int = 3) -> Row:
    """d. The worker's PostgreSQL connections terminated mid-sweep, ``kills`` times."""
    from django.db import connection

    domain = "d.chaos.example"
    row = Row("d. PG connections killed")
    rig.sink.delay = 0.01
    expected = rig.ingest(domain, count)
    rig.nudge()
    terminated = 0
    last = time.monotonic()
    for k in range(kills):
        # Off the 50-email batch boundaries, so each kill lands in the middle of a batch.
        threshold = int(count * (0.15 + 0.55 * k / max(kills - 1, 1))) + 17
        if not wait_for(lambda t=threshold: rig.sink.count(f"@{domain}") >= t, 120, 0.02):
            row.failures.append(f"termination {k + 1} never happened: stalled before {threshold}")
            continue
        backends = _worker_backends(rig)
        with connection.cursor() as cursor:
            for pid, _state in backends:
                cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
        # Each connection may have been between "about to send" and "mark sent" (state idle,
        # the process inside the SMTP call): one email in flight each may go again.
        busy = sum(1 for _, state in backends if state and state != "idle")
        terminated += len(backends)
        row.notes.append(f"termination {k + 1}: {len(backends)} backends, {busy} mid-transaction")
        last = time.monotonic()
        rig.nudge()
    rig.sink.delay = 0.0
    row.allowed_duplicates = terminated
    return rig.measure(row, domain, expected, last)


def two_beats(rig: Rig, count: int = 300) -> Row:
    """e. Two beats at once, ticking together: their sweeps race; nothing may go twice."""
    domain = "e.chaos.example"
    row = Row("e. two beats at once")
    rig.stack.stop_beats()
    rig.stack.start_beat()
    rig.stack.start_beat()
    started = time.monotonic()
    rig.sink.delay = 0.01
    expected = rig.ingest(domain, count)
    # No nudge: both beats' own ticks (60 s after they start) send these.
    row.drain = rig.drain(domain, expected, started, nudge_every=0)
    rig.sink.delay = 0.0
    measured = rig.measure(row, domain, expected, started)
    measured.drain = row.drain
    measured.notes.append("drain counted from the beats' start (first tick after 60 s)")
    rig.stack.stop_beats()
    rig.stack.start_beat()
    return measured


def api_fuzz(rig: Rig, touchpoints: list[str]) -> Row:
    """f. Hostile bodies at every API endpoint; any 5xx (or no answer) fails."""
    row = Row("f. API hostile-body fuzz")
    singles = fuzz.bodies(touchpoints, rig.staff)
    batches = fuzz.batch_bodies(singles, touchpoints, rig.staff)
    port = rig.stack.web_port
    jobs = [("/api/v1/interactions", b) for b in singles]
    jobs += [("/api/v1/interactions/batch", b) for b in batches]
    jobs += [("/api/v1/interactions/batch", b) for b in singles]  # the wrong shape there
    outcomes: list[fuzz.Outcome] = []
    lock = threading.Lock()
    queue = list(jobs)

    def work():
        while True:
            with lock:
                if not queue:
                    return
                path, body = queue.pop()
            outcome = fuzz.send(port, rig.token, path, body)
            with lock:
                outcomes.append(outcome)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for method in ("GET", "POST", "PUT", "DELETE"):
        for body in singles[:40]:
            outcomes.append(fuzz.send(port, rig.token, "/api/v1/openapi.json", body, method))
    bad = [o for o in outcomes if o.status >= 500 or o.status == 0]
    row.errors_5xx = len(bad)
    row.sent = None
    statuses: dict[int, int] = {}
    for o in outcomes:
        statuses[o.status] = statuses.get(o.status, 0) + 1
    row.notes.append(
        f"{len(singles)} bodies, {len(outcomes)} requests; answers {dict(sorted(statuses.items()))}"
    )
    seen = set()
    for o in bad:
        kind = o.label.split(" in ")[-1] if " in " in o.label else o.label
        if (o.path, kind) in seen or len(seen) >= 25:
            continue
        seen.add((o.path, kind))
        row.notes.append(f"  {o.status or 'no answer'} {o.path} <- {o.label[:90]}")
    return row
