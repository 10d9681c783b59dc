"""The processes the rig starts (Redis, gunicorn, Celery worker and beat) and stops again,
always by their own process id: never a service it did not start."""

import contextlib
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = ROOT / ".venv" / "bin"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def wait_for(check, timeout: float, interval: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(interval)
    return bool(check())


def _bin(name: str) -> str:
    local = VENV_BIN / name
    return str(local) if local.exists() else name


class Proc:
    """One process the rig started, in a process group of its own (its pid is the group id),
    so a kill reaches the pool children a Celery worker forks, and nothing else."""

    def __init__(self, name: str, argv: list[str], env: dict, log_dir: Path):
        self.name = name
        self.argv = argv
        self.env = env
        self.log_path = log_dir / f"{name}.log"
        self.popen: subprocess.Popen | None = None

    def start(self) -> "Proc":
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child owns it until it exits
        log.write(f"\n=== start {time.strftime('%H:%M:%S')}: {' '.join(self.argv)}\n".encode())
        log.flush()
        self.popen = subprocess.Popen(
            self.argv,
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        return self

    @property
    def pid(self) -> int:
        return self.popen.pid if self.popen else 0

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def children(self) -> list[int]:
        """Pids of the processes this one forked (a Celery worker's pool)."""
        found = []
        for task in Path(f"/proc/{self.pid}/task").glob("*"):
            with contextlib.suppress(OSError):
                found += [int(c) for c in (task / "children").read_text().split()]
        return found

    def _signal_group(self, sig) -> None:
        if self.popen is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, sig)

    def kill(self) -> int:
        """SIGKILL the process and everything it forked. Returns how many processes died."""
        if not self.alive():
            return 0
        count = 1 + len(self.children())
        self._signal_group(signal.SIGKILL)
        self.popen.wait(10)
        return count

    def stop(self, timeout: float = 15) -> None:
        if self.popen is None:
            return
        if self.alive():
            self._signal_group(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self._signal_group(signal.SIGKILL)
                self.popen.wait(10)
        # Orphans of the group (a pool child that outlived its parent) go too.
        self._signal_group(signal.SIGKILL)


class Stack:
    """Redis, web, worker(s) and beat(s) for one run, with the app's own settings."""

    def __init__(self, env: dict, log_dir: Path, *, redis_port: int | None, web_port: int):
        self.env = env
        self.log_dir = log_dir
        self.redis_port = redis_port
        self.web_port = web_port
        self.redis: Proc | None = None
        self.web: Proc | None = None
        self.worker: Proc | None = None
        self.beats: list[Proc] = []
        self.workers_started = 0
        self.beats_started = 0

    # --- Redis ------------------------------------------------------------------------------

    def start_redis(self) -> None:
        if self.redis_port is None:
            return
        self.redis = Proc(
            "redis",
            [
                "redis-server",
                "--port",
                str(self.redis_port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
            ],
            self.env,
            self.log_dir,
        ).start()
        if not wait_for(lambda: port_open(self.redis_port), 15):
            raise RuntimeError("the throwaway redis-server did not start")

    def kill_redis(self) -> None:
        if self.redis is not None:
            self.redis.kill()

    # --- Web --------------------------------------------------------------------------------

    def start_web(self) -> None:
        self.web = Proc(
            "web",
            [
                _bin("gunicorn"),
                "feedback.wsgi:application",
                "--workers",
                "3",
                "--bind",
                f"127.0.0.1:{self.web_port}",
                "--timeout",
                "120",
                "--log-level",
                "warning",
            ],
            self.env,
            self.log_dir,
        ).start()
        if not wait_for(lambda: port_open(self.web_port), 30):
            raise RuntimeError(f"gunicorn did not start: see {self.web.log_path}")

    # --- Celery -----------------------------------------------------------------------------

    def start_worker(self, concurrency: int = 2) -> Proc:
        self.workers_started += 1
        env = {**self.env, "PGAPPNAME": "heard-chaos-worker"}
        self.worker = Proc(
            "worker",
            [
                _bin("celery"),
                "-A",
                "feedback",
                "worker",
                "--loglevel=WARNING",
                f"--concurrency={concurrency}",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "-n",
                f"chaos{self.workers_started}@%h",
            ],
            env,
            self.log_dir,
        ).start()
        # Ready once the pool has forked its children.
        wait_for(lambda: len(self.worker.children()) >= concurrency, 30)
        return self.worker

    def start_beat(self) -> Proc:
        self.beats_started += 1
        env = {**self.env, "PGAPPNAME": "heard-chaos-beat"}
        schedule = self.log_dir / f"celerybeat-schedule-{self.beats_started}"
        beat = Proc(
            f"beat{self.beats_started}",
            [
                _bin("celery"),
                "-A",
                "feedback",
                "beat",
                "--loglevel=WARNING",
                f"--schedule={schedule}",
            ],
            env,
            self.log_dir,
        ).start()
        self.beats.append(beat)
        return beat

    def stop_beats(self) -> None:
        for beat in self.beats:
            beat.stop()
        self.beats = []

    def stop_all(self) -> None:
        for proc in [*self.beats, self.worker, self.web, self.redis]:
            if proc is not None:
                with contextlib.suppress(Exception):
                    proc.stop()
