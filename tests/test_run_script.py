"""``make run`` (bin/run) as an operator's tools stop it: SIGTERM to its whole process group,
as ``timeout`` and systemd send it. Every process it started must be gone soon after."""

import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _group_alive(pgid: int) -> bool:
    """Any process of the group still running (zombies, which only wait for their parent to
    read their status, don't count)."""
    found = subprocess.run(["ps", "-o", "stat=", "-g", str(pgid)], capture_output=True, text=True)
    return any(not stat.startswith("Z") for stat in found.stdout.split())


@pytest.mark.worker
def test_sigterm_to_the_process_group_stops_web_worker_and_beat(tmp_path):
    # An SMTP server that accepts connections and never says a word: the worker is stuck in
    # a send when the signal comes, as it is with a slow provider.
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(50)
    port = _free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE"}
    }
    env.update(
        HEARD_VAR_DIR=str(tmp_path),
        PORT=str(port),
        DEBUG="1",
        EMAIL_HOST="127.0.0.1",
        EMAIL_PORT=str(silent.getsockname()[1]),
        EMAIL_USE_TLS="0",
        EMAIL_TIMEOUT="120",
    )
    log = (tmp_path / "run.log").open("w")
    waiting = None
    run = subprocess.Popen(
        [str(ROOT / "bin" / "run")],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2)
                break
            except OSError:
                assert run.poll() is None, (tmp_path / "run.log").read_text()[-2000:]
                time.sleep(0.5)
        else:
            pytest.fail("bin/run never answered: " + (tmp_path / "run.log").read_text()[-2000:])
        # The demo's emails are queued: wait until the worker has connected to send them.
        silent.settimeout(60)
        waiting = silent.accept()[0]

        os.killpg(run.pid, signal.SIGTERM)
        stopped = time.monotonic() + 30
        while time.monotonic() < stopped:
            run.poll()
            if not _group_alive(run.pid):
                break
            time.sleep(0.2)
        assert not _group_alive(run.pid), "a process of make run outlived SIGTERM by 30 s"
    finally:
        if _group_alive(run.pid):
            os.killpg(run.pid, signal.SIGKILL)
        run.wait(10)
        log.close()
        if waiting is not None:
            waiting.close()
        silent.close()
