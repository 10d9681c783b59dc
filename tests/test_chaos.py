"""The fault rig's fast subset (``chaos/run.py --fast``) on every push: a Celery worker
SIGKILLed while it sends a few hundred invitations (nothing lost, at most one duplicate per
killed process), and a hostile-body fuzz of the API (no 5xx).

The rig starts its own processes (gunicorn, worker, beat, a throwaway redis-server, an SMTP
sink) and creates and drops its own database on the PostgreSQL server DATABASE_URL names. On
a laptop without PostgreSQL it runs the same two scenarios on SQLite.
"""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 600  # the fast subset takes about 3 minutes


def _on_postgres() -> bool:
    return os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://"))


@pytest.mark.chaos
def test_the_fast_fault_rig_meets_every_target():
    if os.environ.get("CI") and not _on_postgres():
        pytest.fail(
            "CI must run the fault rig on PostgreSQL: set DATABASE_URL to a postgres:// URL "
            "(the rig creates and drops a database of its own on that server)."
        )
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    rig = subprocess.Popen(
        [sys.executable, str(ROOT / "chaos" / "run.py"), "--fast"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        output, _ = rig.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        rig.send_signal(signal.SIGTERM)  # the rig stops its processes and drops its database
        output, _ = rig.communicate(timeout=60)
        pytest.fail(f"chaos/run.py --fast took over {TIMEOUT} s:\n{output[-6000:]}")
    print(output)
    assert rig.returncode == 0, f"chaos/run.py --fast exited {rig.returncode}:\n{output[-6000:]}"
