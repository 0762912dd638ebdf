"""Case 6: the model fails (429, 500, timeouts, malformed or unknown tool calls, empty answers, a
tool loop): retries are bounded, each turn is capped, the thread parks on a question to its humans,
and once answered it goes on with every event in place.

One `signoff serve` (model timeout 1 s, 3 attempts per call) runs all faults at once, each thread
with its own scripted fault; the model recovers once a human has answered.
"""

from __future__ import annotations

import json
import re
import threading
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from bot.example_agent import agent as example_agent
from storage.db import Database
from tests.fault.conftest import record, serving
from tests.support.crash import CrashableSignoff
from tests.support.fake_model import Response, hang, http_error, raw_tool_call, text, tool_call
from tests.support.replay import database_problems
from tests.support.signoff_process import wait_until

ATTEMPTS = 3  # SIGNOFF_MODEL_MAX_ATTEMPTS
calls: Counter[str] = Counter()
lock = threading.Lock()

FAULTS: dict[str, Any] = {
    "429-always": lambda: http_error(429),
    "500-always": lambda: http_error(500, "upstream exploded"),
    "timeout-always": lambda: hang(30),
    "bad-json": lambda: raw_tool_call("service_status", '{"name": "search"'),
    "unknown-tool": lambda: tool_call("drop_database", {"really": True}),
    "empty": lambda: text(""),
    "tool-loop": lambda: tool_call("service_status", {"name": "search"}),
}


def faulty_model(body: dict[str, Any]) -> Response:
    content = body["messages"][-1]["content"]
    fault = re.search(r"fault (\S+):", content).group(1)  # type: ignore[union-attr]
    with lock:
        calls[fault] += 1
        n = calls[fault]
    if "<question_answered" in content:
        return text(f"{fault}: understood, stopping here.")
    if fault == "429-once":
        return http_error(429) if n == 1 else text("search runs 2.0.1.")
    if fault == "timeout-once":
        return hang(30) if n == 1 else text("search runs 2.0.1.")
    return FAULTS[fault]()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[CrashableSignoff, str, dict[str, str]]]:
    """The server, with one thread per fault started at once (they fail side by side)."""
    env = {"SIGNOFF_MODEL_TIMEOUT": "1", "SIGNOFF_MODEL_MAX_ATTEMPTS": str(ATTEMPTS)}
    with serving(faulty_model, tmp_path_factory.mktemp("model-faults"), **env) as (process, _model, url):
        with process.client() as api:
            threads = {
                fault: api.post(
                    "/api/threads", json={"message": f"fault {fault}: how is search?", "by": "carol"}
                ).json()["id"]
                for fault in [*FAULTS, "429-once", "timeout-once"]
            }
        yield process, url, threads


def run(
    server: tuple[CrashableSignoff, str, dict[str, str]], fault: str, until: str
) -> tuple[str, list[dict[str, Any]]]:
    process, _url, threads = server
    thread_id = threads[fault]
    with process.client() as api:
        thread = wait_until(
            lambda: (t := api.get(f"/api/threads/{thread_id}").json())["status"] == until and t,
            timeout=90,
            message=f"{fault} thread {until}",
        )
        return thread_id, thread["events"]


def answer_and_finish(server: CrashableSignoff, thread_id: str, request_id: str) -> list[dict[str, Any]]:
    with server.client() as api:
        answered = api.post(f"/api/requests/{request_id}/answer", json={"answer": "stop for now", "by": "carol"})
        assert answered.status_code == 200, answered.text
        return wait_until(
            lambda: (t := api.get(f"/api/threads/{thread_id}").json())["status"] == "done" and t["events"],
            timeout=30,
            message="the answered thread to finish",
        )


def test_transient_429_and_timeout_are_retried_within_the_step(
    server: tuple[CrashableSignoff, str, dict[str, str]],
) -> None:
    for fault in ("429-once", "timeout-once"):
        _thread_id, events = run(server, fault, "done")
        assert [e["type"] for e in events] == ["human_message", "agent_reply"], fault
        assert calls[fault] == 2, f"{fault}: one failed attempt, one retry"


@pytest.mark.parametrize("fault", ["429-always", "500-always", "timeout-always"])
def test_a_model_that_keeps_failing_is_retried_a_bounded_number_of_times_then_a_human_is_asked(
    server: tuple[CrashableSignoff, str, dict[str, str]], fault: str
) -> None:
    process = server[0]
    thread_id, events = run(server, fault, "waiting")
    assert [e["type"] for e in events] == ["human_message", "error", "error", "error", "question_asked"]
    assert [e["consecutive"] for e in events[1:4]] == [1, 2, 3]
    assert all(e["source"] == "model" and not e["fatal"] for e in events[1:4])
    assert events[-1]["answerers"] == ["carol", "alice@example.com"] and "3 errors in a row" in events[-1]["question"]
    assert calls[fault] == 3 * ATTEMPTS, "3 steps of at most 3 attempts each"

    finished = answer_and_finish(process, thread_id, events[-1]["request_id"])
    assert finished[: len(events)] == events, "nothing recorded before was lost or changed"
    assert [e["type"] for e in finished[len(events) :]] == ["question_answered", "agent_reply"]


@pytest.mark.parametrize("fault", ["bad-json", "unknown-tool", "empty"])
def test_malformed_answers_become_errors_the_model_sees_then_a_human_is_asked(
    server: tuple[CrashableSignoff, str, dict[str, str]], fault: str
) -> None:
    process = server[0]
    thread_id, events = run(server, fault, "waiting")
    assert [e["type"] for e in events] == ["human_message", "error", "error", "error", "question_asked"]
    assert calls[fault] == 3, "no HTTP retries for an answer that arrived; one model call per step"
    expected = {"bad-json": "not valid JSON", "unknown-tool": "unknown tool 'drop_database'", "empty": "empty answer"}
    assert all(expected[fault] in e["message"] for e in events[1:4])
    finished = answer_and_finish(process, thread_id, events[-1]["request_id"])
    assert finished[: len(events)] == events


def test_a_tool_loop_stops_at_the_step_cap_and_asks(server: tuple[CrashableSignoff, str, dict[str, str]]) -> None:
    process, url, _threads = server
    thread_id, events = run(server, "tool-loop", "waiting")
    steps = example_agent.max_steps_per_turn
    assert [e["type"] for e in events] == [
        "human_message",
        *["tool_call", "tool_result"] * steps,
        "error",
        "question_asked",
    ]
    assert events[-2]["source"] == "limit" and f"after {steps} steps" in events[-2]["message"]
    assert calls["tool-loop"] == steps
    finished = answer_and_finish(process, thread_id, events[-1]["request_id"])
    assert finished[: len(events)] == events

    db = Database(url)
    try:
        assert database_problems(db, example_agent) == {}
    finally:
        db.dispose()
    record(f"[model faults] model calls per fault: {json.dumps(dict(sorted(calls.items())))}")
