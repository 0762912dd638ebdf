"""Signoff as its image runs it: built from the repo's Containerfile, two replicas on PostgreSQL (in a
container too), all on loopback (`--network host`, every server bound to 127.0.0.1).

1. Bad input stops a container at once, non-zero, with one line: a missing setting, an unreachable
   database, a schema older than the image (PostgreSQL is upgraded by `signoff db upgrade`, the
   compose file's one-shot service, never by a replica).
2. A thread started through replica A pauses on an approval; the approval posted to replica B runs
   the tool once.
3. The replica running an approved slow tool is `podman kill`ed: the other takes the thread over,
   never starts the call again by itself, asks the approver; their approval runs it once, and the
   thread completes. No call ever started twice.
4. The image's HEALTHCHECK (GET /readyz) says healthy, then unhealthy once the database is gone.

The agent is tests/support/slow_agent.py, mounted read-only into the containers; each replica keeps
its own journal of tool starts and finishes in a shared directory.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from storage import migrate
from storage.db import Database
from tests.container.conftest import ROOT, Containers, podman, podman_env
from tests.fault.conftest import record
from tests.fault.test_sigterm_drains_in_flight_steps import APPROVER, slow_model
from tests.support.fake_model import FakeModelServer
from tests.support.signoff_process import API_TOKEN, free_port, wait_until
from tests.support.slow_agent import journal

pytestmark = pytest.mark.timeout(2400)
LEASE = 5


@pytest.fixture
def model() -> Iterator[FakeModelServer]:
    with FakeModelServer(default=slow_model) as server:
        yield server


def once(containers: Containers, image: str, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`podman run --rm` of the image, as an operator's one-shot command (named, so that the test's
    cleanup removes it even if it outlives its client)."""
    envs = [f"--env={key}={value}" for key, value in env.items()]
    name = f"{containers.prefix}-once-{len(containers.names)}"
    containers.names.append(name)
    return subprocess.run(
        ["podman", "run", "--rm", "--name", name, "--no-healthcheck", "--network", "host", *envs, image, *args],
        capture_output=True,
        text=True,
        timeout=600,
        env=podman_env(),
    )


def one_line(run: subprocess.CompletedProcess[str]) -> str:
    assert run.returncode != 0, run.stdout + run.stderr
    lines = (run.stdout + run.stderr).strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


@dataclass
class Replica:
    name: str
    port: int
    journal: Path
    ready_after: float

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def api(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {API_TOKEN}"}, timeout=30)

    def thread(self, thread_id: str) -> dict[str, Any]:
        with self.api() as api:
            return dict(api.get(f"/api/threads/{thread_id}").json())

    def pending(self) -> list[dict[str, Any]]:
        with self.api() as api:
            return list(api.get("/api/requests", params={"status": "pending"}).json()["requests"])

    def approve(self, request_id: str) -> None:
        with self.api() as api:
            decided = api.post(f"/api/requests/{request_id}/decision", json={"decision": "approve", "by": APPROVER})
        assert decided.status_code == 200, decided.text


def start_replica(containers: Containers, image: str, letter: str, env: dict[str, str], journals: Path) -> Replica:
    port = free_port()
    started = time.monotonic()
    name = containers.run(
        letter,
        image,
        f"--volume={ROOT / 'tests' / 'support' / 'slow_agent.py'}:/agents/slow_agent.py:ro",
        f"--volume={journals}:/journal",
        env={**env, "SIGNOFF_PORT": str(port), "SLOW_AGENT_JOURNAL": f"/journal/{letter}"},
    )

    def ready() -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200
        except httpx.HTTPError:
            state = podman("inspect", "--format", "{{.State.Status}}", name, check=False).stdout.strip()
            assert state == "running", podman("logs", name, check=False).stderr[-3000:]
            return False

    wait_until(ready, timeout=300, interval=0.1, message=f"replica {letter} ready")
    return Replica(name, port, journals / letter, time.monotonic() - started)


def starts(replicas: list[Replica]) -> list[tuple[str, str, str]]:
    return [entry for replica in replicas for entry in journal(replica.journal)]


def done(replica: Replica, thread_id: str) -> dict[str, Any]:
    return dict(
        wait_until(
            lambda: (t := replica.thread(thread_id))["status"] == "done" and t, timeout=180, message="thread done"
        )
    )


def start_thread(replica: Replica, seconds: float) -> tuple[str, dict[str, Any]]:
    with replica.api() as api:
        made = api.post(
            "/api/threads", json={"message": f"change payments with slow_change taking {seconds}s", "by": "bob@x.test"}
        )
    assert made.status_code == 201, made.text
    thread_id = made.json()["id"]
    [request] = wait_until(
        lambda: [r for r in replica.pending() if r["thread_id"] == thread_id], timeout=180, message="the approval"
    )
    return thread_id, request


def test_two_replicas_in_containers_share_the_work_and_survive_a_kill(
    signoff_image: tuple[str, float],
    postgres_in_a_container: str,
    containers: Containers,
    model: FakeModelServer,
    tmp_path: Path,
) -> None:
    image, built_in = signoff_image
    url = postgres_in_a_container
    closed = free_port()

    # The image: a non-root user, no compilers, no pip, no package lists or caches.
    looked = subprocess.run(
        [
            "podman",
            "run",
            "--rm",
            "--no-healthcheck",
            "--entrypoint",
            "sh",
            image,
            "-c",
            "id -u; for t in gcc cc c++ make pip pip3; do command -v $t; done; "
            "find /var/lib/apt/lists /var/cache/apt /var/lib/signoff -type f 2>/dev/null; "
            "python3 -c 'import pip' 2>/dev/null && echo pip-module; true",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=podman_env(),
    )
    assert looked.stdout.split() == ["10001"], looked.stdout + looked.stderr

    # 1. Bad input: one line, non-zero, before anything is served. An older schema first (the
    # previous release's head), while the database has nothing newer.
    older = Database(url)
    try:
        migrate.upgrade(older, "0003")
    finally:
        older.dispose()
    line = one_line(once(containers, image, env={"SIGNOFF_DATABASE_URL": url, "SIGNOFF_APPROVERS": APPROVER}))
    assert "older" in line and "run `signoff db upgrade`" in line
    unreachable = f"postgresql://signoff@127.0.0.1:{closed}/x"
    line = one_line(once(containers, image, env={"SIGNOFF_DATABASE_URL": unreachable, "SIGNOFF_APPROVERS": "a"}))
    assert "cannot reach the database" in line and "SIGNOFF_DATABASE_URL" in line

    # The migration, as the compose file's one-shot service runs it.
    upgraded = once(containers, image, "db", "upgrade", env={"SIGNOFF_DATABASE_URL": url})
    assert upgraded.returncode == 0, upgraded.stdout + upgraded.stderr
    assert f"database at revision {migrate.head_revision()}" in upgraded.stdout
    line = one_line(once(containers, image, env={"SIGNOFF_DATABASE_URL": url, "SIGNOFF_APPROVERS": ""}))
    assert "SIGNOFF_APPROVERS" in line

    journals = tmp_path / "journals"
    journals.mkdir()
    journals.chmod(0o777)  # the image's user (uid 10001) writes its journal here
    env = {
        "SIGNOFF_HOST": "127.0.0.1",
        "SIGNOFF_DATABASE_URL": url,
        "SIGNOFF_API_TOKEN": API_TOKEN,
        "SIGNOFF_API_TOKEN_MAY_DECIDE": "true",  # the test decides with the service token
        "SIGNOFF_AGENT": "slow_agent:agent",
        "PYTHONPATH": "/agents",
        "SIGNOFF_MODEL": "openai/fake",
        "SIGNOFF_MODEL_API_BASE": model.url,
        "SIGNOFF_MODEL_API_KEY": "x",
        "SIGNOFF_LEASE_SECONDS": str(LEASE),
        "SIGNOFF_POLL_INTERVAL": "0.2",
    }
    with ThreadPoolExecutor(2) as pool:
        a, b = pool.map(lambda letter: start_replica(containers, image, letter, env, journals), ["a", "b"])
    replicas = [a, b]
    assert podman("healthcheck", "run", a.name, check=False).returncode == 0  # the image's HEALTHCHECK: healthy

    # 2. Started through A, approved through B: the tool runs once.
    thread_id, request = start_thread(a, 0.2)
    b.approve(request["id"])
    first = done(a, thread_id)
    [(_, _, call_id), _] = starts(replicas)
    assert sorted(starts(replicas)) == [("finish", "slow_change", call_id), ("start", "slow_change", call_id)]
    assert [e["call_id"] for e in first["events"] if e["type"] == "tool_result"] == [call_id]

    # 3. The replica running an approved 8 s tool is killed; the other one finishes the work.
    thread_id, request = start_thread(b, 8)
    a.approve(request["id"])
    wait_until(lambda: len(starts(replicas)) == 3, timeout=180, message="the slow tool's start")
    runner = next(r for r in replicas if any(c != call_id for _, _, c in journal(r.journal)))
    other = b if runner is a else a
    [(_, _, slow_call)] = [e for e in journal(runner.journal) if e[2] != call_id]
    killed_at = time.monotonic()
    podman("kill", runner.name)
    [rerun] = wait_until(
        lambda: [r for r in other.pending() if r["thread_id"] == thread_id],
        timeout=180,
        message="the other replica asks whether to run the killed call again",
    )
    took_over = time.monotonic() - killed_at
    assert "may or may not have run" in rerun["reason"]
    assert [c for _, _, c in starts(replicas)].count(slow_call) == 1  # not started again by itself
    other.approve(rerun["id"])  # run it again: a new call, on the replica still alive
    final = done(other, thread_id)
    events = final["events"]
    calls = [c for what, _, c in starts(replicas) if what == "start"]
    assert len(calls) == len(set(calls)) == 3, starts(replicas)  # no call id started twice
    types = [e["type"] for e in events]
    assert types.count("tool_outcome_unknown") == 1 and types.count("tool_result") == 1, types
    assert events[-1]["type"] == "agent_reply" and events[-1]["text"] == "Changed payments."

    # 4. The health check reports a database that is gone.
    podman("stop", "--time", "0", f"{containers.prefix}-postgres")
    assert podman("healthcheck", "run", other.name, check=False).returncode != 0

    size = podman("image", "inspect", "--format", "{{.Size}}", image).stdout.strip()
    record(
        f"container: image {int(size) / 1e6:.0f} MB (built or found cached in {built_in:.0f} s); podman run to "
        f"/readyz 200: A {a.ready_after:.1f} s, B {b.ready_after:.1f} s; A's thread approved on B ran once; "
        f"replica killed mid-tool, the other asked again after {took_over:.1f} s; the rerun ran once"
    )
