"""`signoff serve` with worker processes: start the ingress and the workers, restart the ones that
die, and stop them all on SIGTERM.

The supervisor makes a private directory for the wake sockets and the metrics' files, then starts
the children (bot/processes.py): the ingress first, and the workers once it is ready. It imports
almost nothing and never opens the database, so the ingress starts at once. The ingress's first
start creates, upgrades or checks the schema before anything else (its restarts and the workers
never migrate), and stops the whole start with one line when it may not serve on the database.
A child that dies is started again after a backoff (0.5 s doubling to 30 s, reset once it has run
a minute); nothing is lost meanwhile, since everything acknowledged is in the database. A child
that exits because of its configuration (EXIT_CONFIG) stops the whole server with that exit code:
a restart loop would hide the reason. On SIGTERM or SIGINT the ingress stops first (no new
requests), then the workers, each given SIGNOFF_SHUTDOWN_GRACE to finish the steps in flight; the
supervisor exits 0.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from bot.process_env import EXIT_CONFIG, PREPARE_SCHEMA, SUPERVISOR_PID, WAKE_DIR, WORKER_COUNT
from bot.settings import Settings
from retry_backoff import Backoff

log = logging.getLogger(__name__)

RESTART_BACKOFF = Backoff(initial=0.5, cap=30.0)
STABLE_AFTER = 60.0  # seconds a child must run before its next death counts as a first one


@dataclass
class Child:
    name: str
    args: list[str]
    ready_file: Path
    proc: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    failures: int = 0
    restart_at: float | None = None
    was_ready: bool = False
    env: dict[str, str] = field(default_factory=dict)

    def start(self, **extra_env: str) -> None:
        self.ready_file.unlink(missing_ok=True)
        env = {**self.env, **extra_env}
        self.proc = subprocess.Popen([sys.executable, "-m", "bot.processes", *self.args], env=env)
        self.started_at = time.monotonic()
        self.restart_at = None
        log.debug("%s started (pid %d)", self.name, self.proc.pid)

    def ready(self) -> bool:
        self.was_ready = self.was_ready or self.ready_file.exists()
        return self.was_ready

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


class Supervisor:
    def __init__(self, settings: Settings, host: str, port: int, workers: int) -> None:
        self.settings = settings
        self.host, self.port = host, port
        self.workers = workers
        self.runtime_dir = Path(tempfile.mkdtemp(prefix="signoff-"))
        metrics_dir = self.runtime_dir / "metrics"
        metrics_dir.mkdir()
        env = {
            **os.environ,
            WAKE_DIR: str(self.runtime_dir),
            WORKER_COUNT: str(workers),
            SUPERVISOR_PID: str(os.getpid()),
            # Each process writes its counters and histograms here; the ingress's /metrics sums them.
            "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        }
        self.ingress = Child(
            "ingress",
            ["ingress", host, str(port)],
            self.runtime_dir / "ready-ingress",
            env={**env, "SIGNOFF_PROCESS_ROLE": "ingress"},
        )
        self.worker_children = [
            Child(
                f"worker {i}",
                ["worker", str(i)],
                self.runtime_dir / f"ready-worker-{i}",
                env={**env, "SIGNOFF_PROCESS_ROLE": f"worker-{i}"},
            )
            for i in range(workers)
        ]
        self._stopping = False

    @property
    def children(self) -> list[Child]:
        return [self.ingress, *self.worker_children]

    def run(self) -> int:
        handlers = {s: signal.signal(s, self._stop) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            # The ingress first, alone: it answers /healthz sooner without the workers' start-up
            # beside it on the CPU, and a configuration or a database it cannot start with is said
            # once. Its first start readies the schema, before the workers exist.
            self.ingress.start(**{PREPARE_SCHEMA: "1"})
            while not self._stopping and self.ingress.alive() and not self.ingress.ready():
                time.sleep(0.01)
            if self._stopping:
                self._shutdown()
                return 0
            if not self.ingress.alive():
                return 1  # it said why (one line)
            log.info(
                "signoff serving on http://%s:%d: an ingress process and %d worker process(es)",
                self.host,
                self.port,
                self.workers,
            )
            for child in self.worker_children:
                child.start()
            while not self._stopping:
                code = self._watch()
                if code is not None:
                    self._shutdown()
                    return code
                time.sleep(0.1)
            self._shutdown()
            return 0
        finally:
            for signum, previous in handlers.items():
                signal.signal(signum, previous)
            shutil.rmtree(self.runtime_dir, ignore_errors=True)

    def _stop(self, _signum: int, _frame: FrameType | None) -> None:
        self._stopping = True

    def _watch(self) -> int | None:
        """Restart the children that died; an exit code to stop with when one cannot run."""
        now = time.monotonic()
        for child in self.children:
            if child.restart_at is not None:
                if now >= child.restart_at:
                    child.start()
                continue
            if child.proc is None:
                continue
            ready = child.ready()
            if child.alive():
                continue
            code = child.proc.returncode
            if code == EXIT_CONFIG:
                log.error("%s cannot start with this configuration (above); stopping", child.name)
                return 1
            if not ready:
                # It never came up (a port in use, a database it cannot reach): restarting it
                # would only repeat the error. What it printed says why.
                log.error("%s exited before it was ready (exit code %d; above); stopping", child.name, code)
                return 1
            if now - child.started_at > STABLE_AFTER:
                child.failures = 0
            child.failures += 1
            delay = RESTART_BACKOFF.delay(child.failures)
            how = f"signal {-code}" if code < 0 else f"exit code {code}"
            log.error("%s (pid %d) died (%s); restarting it in %.1fs", child.name, child.proc.pid, how, delay)
            child.restart_at = now + delay
        return None

    def _shutdown(self) -> None:
        """The ingress first (no new requests), then the workers, each with the grace to finish."""
        grace = self.settings.shutdown_grace + 5
        for group in ([self.ingress], self.worker_children):
            running = [c for c in group if c.alive()]
            for child in running:
                assert child.proc is not None
                child.proc.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + grace
            for child in running:
                assert child.proc is not None
                try:
                    child.proc.wait(max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    log.warning("%s did not stop within %gs; killing it", child.name, grace)
                    child.proc.kill()
                    child.proc.wait()


def supervise(settings: Settings, host: str, port: int) -> int:
    return Supervisor(settings, host, port, settings.worker_process_count).run()
