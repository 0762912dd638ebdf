"""SIGKILL while an approved slow tool runs (its `tool_started` committed, its body sleeping): after
the restart, the call is never started again by itself. The thread records `tool_outcome_unknown`
and asks the approver, with a new request, whether to run it again; only their approval runs it,
as a new call. A tool declared `idempotent=True` is retried instead, with the same call id."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from storage.db import Database
from tests.fault.conftest import record
from tests.fault.test_sigterm_drains_in_flight_steps import APPROVER, slow_model, slow_signoff, start_approved_slow_call
from tests.support.fake_model import FakeModelServer
from tests.support.replay import database_problems
from tests.support.signoff_process import SignoffProcess, wait_until
from tests.support.slow_agent import agent as slow_agent
from tests.support.slow_agent import journal


@pytest.fixture
def model() -> Iterator[FakeModelServer]:
    with FakeModelServer(default=slow_model) as server:
        yield server


def killed_mid_tool(model: FakeModelServer, workdir: Path, tool: str) -> tuple[SignoffProcess, str]:
    server = slow_signoff(model, workdir).start()
    thread_id = start_approved_slow_call(server, tool, 6)
    wait_until(lambda: journal(workdir / "journal"), message="the tool's start")
    server.kill()
    assert [what for what, _, _ in journal(workdir / "journal")] == ["start"]
    return server, thread_id


def thread(server: SignoffProcess, thread_id: str) -> dict:  # type: ignore[type-arg]
    with server.client() as api:
        return dict(api.get(f"/api/threads/{thread_id}").json())


def no_replay_problems(workdir: Path) -> None:
    db = Database(f"sqlite:///{workdir / 'signoff.db'}")
    try:
        assert database_problems(db, slow_agent) == {}
    finally:
        db.dispose()


def test_a_killed_gated_call_is_not_run_again_but_its_approver_is_asked(model: FakeModelServer, tmp_path: Path) -> None:
    server, thread_id = killed_mid_tool(model, tmp_path, "slow_change")
    try:
        server.start()
        with server.client() as api:
            [rerun] = wait_until(
                lambda: api.get("/api/requests", params={"status": "pending"}).json()["requests"],
                message="the question to the approver",
            )
        assert "may or may not have run" in rerun["reason"] and rerun["allowed"] == [APPROVER]
        shown = thread(server, thread_id)
        assert shown["status"] == "waiting"
        types = [e["type"] for e in shown["events"]]
        assert types[-3:] == ["tool_started", "tool_outcome_unknown", "approval_requested"], types
        first_call = shown["events"][-3]["call_id"]
        assert shown["events"][-2]["call_id"] == first_call and shown["events"][-1]["rerun_of"] == first_call
        assert journal(tmp_path / "journal") == [("start", "slow_change", first_call)]  # not run again by itself

        with server.client() as api:  # the approver says: run it again
            decided = api.post(f"/api/requests/{rerun['id']}/decision", json={"decision": "approve", "by": APPROVER})
            assert decided.status_code == 200, decided.text
            done = wait_until(
                lambda: (t := api.get(f"/api/threads/{thread_id}").json())["status"] == "done" and t,
                message="done",
            )
        second_call = shown["events"][-1]["call_id"]
        assert journal(tmp_path / "journal") == [
            ("start", "slow_change", first_call),
            ("start", "slow_change", second_call),
            ("finish", "slow_change", second_call),
        ]
        assert [e["call_id"] for e in done["events"] if e["type"] == "tool_result"] == [second_call]
        no_replay_problems(tmp_path)
        record(
            "SIGKILL during a 6 s gated tool: started 1x, outcome unknown, approver asked; run again only on approval"
        )
    finally:
        server.stop()


def test_a_killed_idempotent_call_is_retried_with_the_same_call_id(model: FakeModelServer, tmp_path: Path) -> None:
    server, thread_id = killed_mid_tool(model, tmp_path, "slow_idempotent_change")
    try:
        server.start()
        with server.client() as api:
            done = wait_until(
                lambda: (t := api.get(f"/api/threads/{thread_id}").json())["status"] == "done" and t,
                message="done",
            )
        [call_id] = {c for _, _, c in journal(tmp_path / "journal")}
        assert journal(tmp_path / "journal") == [
            ("start", "slow_idempotent_change", call_id),
            ("start", "slow_idempotent_change", call_id),
            ("finish", "slow_idempotent_change", call_id),
        ]
        types = [e["type"] for e in done["events"]]
        assert types.count("tool_started") == 2 and types.count("tool_result") == 1
        assert "tool_outcome_unknown" not in types and "approval_requested" in types
        assert [e["attempt"] for e in done["events"] if e["type"] == "tool_started"] == [1, 2]
        no_replay_problems(tmp_path)
        record("SIGKILL during a 6 s idempotent gated tool: retried once with the same call id, 1 result")
    finally:
        server.stop()
