"""Run `signoff serve` as a real process, as a user would, and kill it for real."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

API_TOKEN = "test-token"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class SignoffProcess:
    def __init__(self, env: dict[str, str], workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.env = {
            **os.environ,
            "SIGNOFF_HOST": "127.0.0.1",
            "SIGNOFF_PORT": str(self.port),
            "SIGNOFF_API_TOKEN": API_TOKEN,
            "SIGNOFF_POLL_INTERVAL": "0.2",
            "SIGNOFF_LOG_LEVEL": "INFO",
            "SIGNOFF_ENV_FILE": str(workdir / "none.env"),
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",
            # `stop()` waits 10 s for SIGTERM before it kills: a step in flight (a hanging model
            # call) gets a short grace, so teardown stays quick. Tests of the grace set their own.
            "SIGNOFF_SHUTDOWN_GRACE": "5",
            # Most tests decide through the API with the service token, as an operator who enabled it
            # would; tests of personal tokens and of the service token's refusal set it to false.
            "SIGNOFF_API_TOKEN_MAY_DECIDE": "true",
            # serve's own layout (an ingress and worker processes), the same on every machine: one
            # worker process, whatever the cores (the failpoints count per process).
            "SIGNOFF_WORKER_PROCESSES": "1",
            # The worker at the ingress's priority: on a machine shared with other tests' processes
            # (all at nice 0), a niced worker would wait behind every one of them, not only the
            # ingress. The test of the default (tests/fault/...restarted.py) sets it back.
            "SIGNOFF_WORKER_NICE": "0",
            **env,
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.workdir / f"serve-{self.starts}.log"

    def start(self, timeout: float = 30) -> SignoffProcess:
        self.starts += 1
        log = open(self.log_path, "wb")  # noqa: SIM115 (closed with the process)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bot", "serve"],
            env=self.env,
            cwd=self.workdir,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"signoff serve exited with {self.proc.returncode}:\n{self.log_path.read_text()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.05)  # ok: polling with a deadline
        # Never left running: a server that did not come up would outlive the test (no fixture
        # stops what failed to start) and load the machine for every test after it.
        self.kill()
        raise TimeoutError(f"signoff serve not healthy after {timeout}s:\n{self.log_path.read_text()}")

    def kill(self) -> None:
        """SIGKILL: no shutdown hooks, no flushing; what is not committed is lost."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def children(self) -> dict[str, int]:
        """The supervisor's live children by role ("ingress", "worker 0", ...): their process ids."""
        assert self.proc is not None
        found: dict[str, int] = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
                args = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            if parent != self.proc.pid or b"bot.processes" not in args:
                continue
            role = args[args.index(b"bot.processes") + 1].decode()
            name = role if role == "ingress" else f"{role} {args[args.index(b'bot.processes') + 2].decode()}"
            found[name] = int(entry.name)
        return found

    def client(self, token: str = API_TOKEN) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {token}"}, timeout=10)

    def logs(self) -> str:
        return "\n".join(
            (self.workdir / f"serve-{i}.log").read_text(errors="replace") for i in range(1, self.starts + 1)
        )


def wait_until(predicate: Any, timeout: float = 40, interval: float = 0.05, message: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)  # ok: polling with a deadline
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")
