"""SIGTERM while an approved slow tool runs and other threads wait on the model: `signoff serve`
stops taking work, lets the steps in flight finish within SIGNOFF_SHUTDOWN_GRACE, and exits 0
without an error line; the next start finishes every thread, and the tool's body ran once. A tool
still running when the grace ends is cut short: the process still exits 0 at once, and the next
start treats the call as one whose outcome is unknown (its approver is asked)."""

from __future__ import annotations

import os
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fault.conftest import record
from tests.support.fake_model import FakeModelServer, Response, text, tool_call
from tests.support.signoff_process import SignoffProcess, wait_until
from tests.support.slow_agent import JOURNAL_ENV, journal

ROOT = Path(__file__).resolve().parents[2]
APPROVER = "alice@example.com"
LOAD = 6
ERROR_LINE = re.compile(r"\bERROR\b|Traceback|RuntimeError")


def slow_model(body: dict[str, Any]) -> Response:
    content = body["messages"][-1]["content"]
    if re.search(r'<tool_result id="[^"]*" tool="slow_', content):
        return text("Changed payments.")
    found = re.search(r"change payments with (\w+) taking ([\d.]+)s", content)
    if found:
        tool, seconds = found.groups()
        return tool_call(tool, {"name": "payments", "seconds": float(seconds), "reason": "asked"})
    return text("Hello.", delay=1.5)  # the load: model calls in flight at the SIGTERM


@pytest.fixture
def model() -> Iterator[FakeModelServer]:
    with FakeModelServer(default=slow_model) as server:
        yield server


def slow_signoff(model: FakeModelServer, workdir: Path, **env: str) -> SignoffProcess:
    return SignoffProcess(
        {
            "SIGNOFF_DATABASE_URL": f"sqlite:///{workdir / 'signoff.db'}",
            "SIGNOFF_MODEL": "openai/fake",
            "SIGNOFF_MODEL_API_BASE": model.url,
            "SIGNOFF_MODEL_API_KEY": "x",
            "SIGNOFF_AGENT": "tests.support.slow_agent:agent",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
            JOURNAL_ENV: str(workdir / "journal"),
            **env,
        },
        workdir,
    )


def start_approved_slow_call(server: SignoffProcess, tool: str, seconds: float) -> str:
    with server.client() as api:
        thread_id = api.post(
            "/api/threads", json={"message": f"change payments with {tool} taking {seconds}s", "by": "bob@example.com"}
        ).json()["id"]
        [request] = wait_until(
            lambda: api.get("/api/requests", params={"status": "pending"}).json()["requests"],
            message="the approval request",
        )
        decided = api.post(f"/api/requests/{request['id']}/decision", json={"decision": "approve", "by": APPROVER})
        assert decided.status_code == 200, decided.text
        return str(thread_id)


def sigterm(server: SignoffProcess, timeout: float = 90) -> tuple[int, float]:
    assert server.proc is not None
    started = time.monotonic()
    os.killpg(server.proc.pid, signal.SIGTERM)
    code = server.proc.wait(timeout)
    return code, time.monotonic() - started


@pytest.mark.parametrize("tool", ["slow_async_change", "slow_change"])
def test_sigterm_during_a_slow_tool_finishes_it_within_the_grace_and_exits_cleanly(
    model: FakeModelServer, tmp_path: Path, tool: str
) -> None:
    server = slow_signoff(model, tmp_path, SIGNOFF_SHUTDOWN_GRACE="30").start()
    try:
        thread_id = start_approved_slow_call(server, tool, 4)
        with server.client() as api:
            for i in range(LOAD):
                assert api.post("/api/threads", json={"message": f"hello {i}", "by": "bob@example.com"}).is_success
        wait_until(lambda: journal(tmp_path / "journal"), message="the tool's start")
        wait_until(lambda: len(model.requests) >= 1 + LOAD, message="the load's model calls")
        code, took = sigterm(server)
        log = server.log_path.read_text(errors="replace")
        assert code == 0, log[-3000:]
        assert not ERROR_LINE.findall(log), log[-3000:]
        runs = journal(tmp_path / "journal")
        assert [what for what, _, _ in runs] == ["start", "finish"]  # finished within the grace

        server.start()  # the next start finishes what the stop left
        with server.client() as api:
            thread = wait_until(
                lambda: (t := api.get(f"/api/threads/{thread_id}").json())["status"] == "done" and t,
                message="the slow thread done",
            )
            wait_until(
                lambda: {t["status"] for t in api.get("/api/threads").json()["threads"]} == {"done"},
                message="every thread done",
            )
        assert [e["type"] for e in thread["events"]].count("tool_result") == 1
        assert journal(tmp_path / "journal") == runs
        record(f"SIGTERM during a 4 s {tool} with {LOAD} model calls in flight: exit {code} after {took:.1f} s")
    finally:
        server.stop()


def test_sigterm_past_the_grace_exits_at_once_and_the_next_start_asks_the_approver(
    model: FakeModelServer, tmp_path: Path
) -> None:
    server = slow_signoff(model, tmp_path, SIGNOFF_SHUTDOWN_GRACE="1").start()
    try:
        thread_id = start_approved_slow_call(server, "slow_change", 20)
        wait_until(lambda: journal(tmp_path / "journal"), message="the tool's start")
        code, took = sigterm(server)
        log = server.log_path.read_text(errors="replace")
        assert code == 0, log[-3000:]
        assert not ERROR_LINE.findall(log), log[-3000:]
        assert took < 15, f"the stop waited {took:.1f} s for a tool past its 1 s grace"
        assert [what for what, _, _ in journal(tmp_path / "journal")] == ["start"]

        server.start()
        with server.client() as api:
            [rerun] = wait_until(
                lambda: api.get("/api/requests", params={"status": "pending"}).json()["requests"],
                message="the question to the approver",
            )
            events = api.get(f"/api/threads/{thread_id}").json()["events"]
        assert "may or may not have run" in rerun["reason"]
        assert [e["type"] for e in events][-2:] == ["tool_outcome_unknown", "approval_requested"]
        assert len(journal(tmp_path / "journal")) == 1  # not started again
        record(
            f"SIGTERM during a 20 s def tool, grace 1 s: exit {code} after {took:.1f} s; next start asks the approver"
        )
    finally:
        server.stop()
