"""Two `signoff serve` on one PostgreSQL with a 3 s lease, running approved slow `def` tools.

1. A tool that runs longer than the lease: it runs on a tool thread, so the replica's event loop
   keeps renewing the lease (and answering HTTP): the other replica never takes the thread, the
   body starts once.
2. The replica running a slow tool is paused (SIGSTOP) past its lease, then resumed (SIGCONT): the
   other one takes the thread, does not start the call again, records `tool_outcome_unknown` and
   asks the approver; the paused one's late result is then recorded once, closes that question,
   and the thread says what happened. The body started once.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from storage.db import Database
from tests.conftest import skip_or_fail
from tests.fault.conftest import record
from tests.fault.test_sigterm_drains_in_flight_steps import slow_model, slow_signoff, start_approved_slow_call
from tests.support.databases import postgres_available, postgres_database
from tests.support.fake_model import FakeModelServer
from tests.support.replay import database_problems
from tests.support.signoff_process import SignoffProcess, wait_until
from tests.support.slow_agent import agent as slow_agent
from tests.support.slow_agent import journal, journal_pids

LEASE = 3.0


@pytest.fixture
def model() -> Iterator[FakeModelServer]:
    with FakeModelServer(default=slow_model) as server:
        yield server


@pytest.fixture
def replicas(model: FakeModelServer, tmp_path: Path) -> Iterator[tuple[list[SignoffProcess], str]]:
    ok, reason = postgres_available()
    if not ok:
        skip_or_fail(reason)
    with postgres_database() as url:
        servers = []
        for name in ("a", "b"):
            (tmp_path / name).mkdir()
            server = slow_signoff(model, tmp_path / name, SIGNOFF_DATABASE_URL=url, SIGNOFF_LEASE_SECONDS=str(LEASE))
            server.env["SLOW_AGENT_JOURNAL"] = str(tmp_path / "journal")  # one journal for both
            servers.append(server)
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(lambda s: s.start(60), servers))
        try:
            yield servers, url
        finally:
            for server in servers:
                if server.proc is not None and server.proc.poll() is None:
                    os.killpg(server.proc.pid, signal.SIGCONT)
                server.stop()


def thread(server: SignoffProcess, thread_id: str) -> dict[str, Any]:
    with server.client() as api:
        return dict(api.get(f"/api/threads/{thread_id}").json())


def done(server: SignoffProcess, thread_id: str) -> dict[str, Any]:
    return dict(
        wait_until(lambda: (t := thread(server, thread_id))["status"] == "done" and t, timeout=60, message="done")
    )


def unknown_shown(shown: dict[str, Any]) -> dict[str, Any] | None:
    return shown if any(e["type"] == "tool_outcome_unknown" for e in shown["events"]) else None


def calls_of(path: Path, tool: str, call_id: str) -> list[str]:
    return [what for what, t, c in journal(path) if (t, c) == (tool, call_id)]


def test_a_slow_tool_keeps_its_lease_and_a_paused_replicas_late_result_is_recorded_once(
    replicas: tuple[list[SignoffProcess], str], tmp_path: Path
) -> None:
    servers, url = replicas
    a, b = servers
    book = tmp_path / "journal"

    # 1. Longer than the lease, nobody paused: one start, and both replicas answer HTTP meanwhile.
    first = start_approved_slow_call(a, "slow_change", 3 * LEASE)
    wait_until(lambda: journal(book), message="the first start")
    slowest = 0.0
    while len(journal(book)) < 2:
        for server in servers:
            started = time.monotonic()
            assert httpx.get(f"{server.url}/healthz", timeout=30).status_code == 200
            slowest = max(slowest, time.monotonic() - started)
        time.sleep(0.2)  # ok: sampling the servers' latency while the tool runs
    first_thread = done(a, first)
    [call_1] = {c for _, _, c in journal(book)}
    assert calls_of(book, "slow_change", call_1) == ["start", "finish"]
    types = [e["type"] for e in first_thread["events"]]
    assert types.count("tool_started") == 1 and "tool_outcome_unknown" not in types, types
    assert slowest < 2.0, f"a replica took {slowest:.1f} s to answer /healthz while a tool ran"

    # 2. The replica running the tool is paused past its lease, then resumed.
    second = start_approved_slow_call(b, "slow_change", 4)
    wait_until(lambda: len(journal(book)) == 3, message="the second start")
    _, _, call_2 = journal(book)[2]
    runner_pid = journal_pids(book)[2]
    # The tool runs in a replica's worker process: that process is paused (its ingress stays up).
    runner = next(s for s in servers if runner_pid in s.children().values())
    other = b if runner is a else a
    os.kill(runner_pid, signal.SIGSTOP)
    paused_at = time.monotonic()
    try:
        shown = wait_until(
            lambda: unknown_shown(thread(other, second)),
            timeout=60,
            message="the other replica gives the outcome up as unknown",
        )
        took_over = time.monotonic() - paused_at
        [rerun] = [e for e in shown["events"] if e["type"] == "approval_requested" and e.get("rerun_of") == call_2]
        assert shown["status"] == "waiting" and calls_of(book, "slow_change", call_2) == ["start"]
    finally:
        os.kill(runner_pid, signal.SIGCONT)

    final = done(other, second)
    events = final["events"]
    types = [e["type"] for e in events]
    assert calls_of(book, "slow_change", call_2) == ["start", "finish"]  # started once, its late result:
    assert [e["call_id"] for e in events if e["type"] == "tool_result"] == [call_2]  # recorded once
    assert types.count("tool_started") == 1 and types.count("tool_outcome_unknown") == 1
    closed = next(e for e in events if e["type"] == "approval_decided" and e["request_id"] == rerun["request_id"])
    assert closed["approved"] is False and closed["by"] == "signoff"
    assert not any(c == rerun["call_id"] for _, _, c in journal(book))  # the run-again call never ran
    assert types[-1] == "agent_reply" and events[-1]["text"] == "Changed payments."
    db = Database(url)
    try:
        assert database_problems(db, slow_agent) == {}
    finally:
        db.dispose()
    record(
        f"two replicas, lease {LEASE:.0f} s: a 9 s def tool kept its lease (1 start, /healthz max {slowest * 1000:.0f} ms); "
        f"the replica running a 4 s tool paused {took_over:.1f} s until the other gave the outcome up: "
        f"1 start, 1 result (late), question closed; events {types}"
    )
