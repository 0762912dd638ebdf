"""`signoff serve` runs an ingress process and worker processes under a supervisor. SIGKILL one of
them and the supervisor starts it again; the other keeps going meanwhile, and nothing is lost or
done twice:

- a worker killed while an approved tool runs: the ingress keeps answering, the new worker finds
  the call with no outcome and asks its approver (the tool is never started again by itself);
- the ingress killed while the API is launching threads (each with an Idempotency-Key, retried by
  the client until answered): the worker goes on with the threads it has, the new ingress answers,
  and every key has exactly one thread, each of which finishes.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.fault.test_sigterm_drains_in_flight_steps import APPROVER, slow_model, slow_signoff, start_approved_slow_call
from tests.support.fake_model import FakeModelServer
from tests.support.signoff_process import SignoffProcess, wait_until
from tests.support.slow_agent import journal, journal_pids


@pytest.fixture
def model() -> Iterator[FakeModelServer]:
    with FakeModelServer(default=slow_model) as server:
        yield server


def healthy(server: SignoffProcess) -> bool:
    try:
        return httpx.get(f"{server.url}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def test_a_killed_worker_is_restarted_and_its_call_is_not_run_again(model: FakeModelServer, tmp_path: Path) -> None:
    server = slow_signoff(model, tmp_path, SIGNOFF_WORKER_NICE="10").start()  # the default, which tests turn off
    try:
        thread_id = start_approved_slow_call(server, "slow_change", 30)
        wait_until(lambda: journal(tmp_path / "journal"), message="the tool's start")
        before = server.children()
        [tool_pid] = journal_pids(tmp_path / "journal")
        assert tool_pid == before["worker 0"]
        # Workers yield the CPU to the ingress (SIGNOFF_WORKER_NICE, 10 by default); the ingress does not.
        ours = os.getpriority(os.PRIO_PROCESS, 0)
        assert os.getpriority(os.PRIO_PROCESS, before["ingress"]) == ours
        assert os.getpriority(os.PRIO_PROCESS, tool_pid) == min(19, ours + 10)

        os.kill(tool_pid, signal.SIGKILL)
        assert healthy(server)  # the ingress never noticed
        wait_until(lambda: server.children().get("worker 0") not in (None, tool_pid), message="the worker's restart")
        assert server.children()["ingress"] == before["ingress"]
        # The new worker lowers its priority as it starts, before it loads anything.
        wait_until(
            lambda: os.getpriority(os.PRIO_PROCESS, server.children()["worker 0"]) == min(19, ours + 10),
            message="the new worker's priority",
        )

        with server.client() as api:
            [rerun] = wait_until(
                lambda: api.get("/api/requests", params={"status": "pending"}).json()["requests"],
                message="the question to the approver",
            )
            assert "may or may not have run" in rerun["reason"]
            assert [what for what, _, _ in journal(tmp_path / "journal")] == ["start"]  # not run again by itself
            decided = api.post(f"/api/requests/{rerun['id']}/decision", json={"decision": "approve", "by": APPROVER})
            assert decided.status_code == 200, decided.text
        assert server.proc is not None and server.proc.poll() is None
        assert f"worker 0 (pid {tool_pid}) died (signal 9); restarting it" in server.logs()
    finally:
        server.stop()
    assert server.proc is not None and server.proc.returncode == 0
    del thread_id


def test_a_killed_ingress_is_restarted_and_no_launch_is_lost_or_doubled(model: FakeModelServer, tmp_path: Path) -> None:
    server = slow_signoff(model, tmp_path).start()
    launched: dict[str, str] = {}
    try:

        def launch(key: str) -> None:
            def attempt() -> str | None:
                try:
                    with server.client() as api:
                        answer = api.post(
                            "/api/threads", json={"message": f"hello {key}"}, headers={"Idempotency-Key": key}
                        )
                except httpx.HTTPError:
                    return None  # the ingress is down: try again, as a client with a key does
                assert answer.status_code in (200, 201), answer.text
                return str(answer.json()["id"])

            launched[key] = wait_until(attempt, timeout=60, interval=0.1, message=f"launch {key}")

        for i in range(5):
            launch(f"before-{i}")
        ingress = server.children()["ingress"]
        os.kill(ingress, signal.SIGKILL)
        for i in range(5):
            launch(f"during-{i}")  # the first ones wait for the new ingress
        for i in range(5):
            launch(f"before-{i}")  # a client that never saw its answer retries: the same thread
        assert server.children()["ingress"] != ingress
        assert len(set(launched.values())) == 10

        with server.client() as api:
            wait_until(
                lambda: all(
                    api.get(f"/api/threads/{thread_id}").json()["status"] == "done" for thread_id in launched.values()
                ),
                timeout=60,
                message="every thread done",
            )
            threads = api.get("/api/threads", params={"limit": 1000}).json()["threads"]
        assert sorted(t["id"] for t in threads) == sorted(launched.values())
        assert server.proc is not None and server.proc.poll() is None
        assert f"ingress (pid {ingress}) died (signal 9); restarting it" in server.logs()
    finally:
        server.stop()
