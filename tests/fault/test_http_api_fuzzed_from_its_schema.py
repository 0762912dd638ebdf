"""Case 11 (API): the HTTP API fuzzed from its own OpenAPI schema against a real `signoff serve`.

schemathesis generates valid and invalid requests for every operation (bodies, path and query
parameters, headers); some are pointed at real pending requests and threads so decisions and
answers reach the store. No answer may be a 5xx, the server must stay up, and afterwards the
database holds no partial write: every thread started is whole and replays, and threads were
created exactly by the launches that answered 201.
"""

from __future__ import annotations

import itertools
import zlib
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from sqlmodel import select

from bot.example_agent import agent as example_agent
from storage.db import Database
from storage.models import ReceiptRow, StandaloneRow, ThreadRow
from storage.status import STANDALONE_AGENT
from tests.fault.conftest import record, serving
from tests.support.crash import CrashableSignoff
from tests.support.fake_model import Response, text, tool_call
from tests.support.replay import database_problems
from tests.support.signoff_process import API_TOKEN, wait_until

EXAMPLES = 30
launched: list[str] = []
statuses: dict[int, int] = {}


def model(body: dict[str, Any]) -> Response:
    content = body["messages"][-1]["content"]
    if "<question_answered" in content or "<approval_" in content.replace("<approval_requested", ""):
        return text("ok")
    if "seed-approval" in content and "<approval_requested" not in content:
        return tool_call("restart_service", {"name": "web", "reason": "fuzz"})
    if "seed-question" in content and "<question_asked" not in content:
        return tool_call("ask_human", {"question": "which one?"})
    return text("ok")


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[CrashableSignoff, str, dict[str, Any]]]:
    # Callbacks of fuzzed /api/approvals go nowhere but loopback.
    fuzz_dir = tmp_path_factory.mktemp("fuzz")
    with serving(model, fuzz_dir, SIGNOFF_CALLBACK_HOSTS="127.0.0.1") as (server, _model, url), server.client() as api:
        seeds = [
            api.post("/api/threads", json={"message": f"seed-{kind} {i}"}).json()["id"]
            for i in range(3)
            for kind in ("approval", "question")
        ]
        launched.extend(seeds)
        wait_until(
            lambda: len(api.get("/api/requests", params={"status": "pending"}).json()["requests"]) == len(seeds),
            timeout=60,
            message="the seeded requests",
        )
        real = {
            "thread_id": itertools.cycle(seeds),
            "request_id": itertools.cycle([r["id"] for r in api.get("/api/requests").json()["requests"]]),
        }
        yield server, url, real


def operations(server: CrashableSignoff) -> list[Any]:
    # The schema is behind the bearer token, like the API it describes.
    schema = schemathesis.openapi.from_url(
        f"{server.url}/openapi.json", headers={"Authorization": f"Bearer {API_TOKEN}"}
    )
    return [result.ok() for result in schema.get_all_operations()]


@pytest.mark.parametrize("mode", list(schemathesis.GenerationMode), ids=lambda m: m.value)
def test_no_request_gets_a_server_error(target: tuple[CrashableSignoff, str, dict[str, Any]], mode: Any) -> None:
    """Valid (positive) and invalid (negative) requests for every operation of the schema."""
    server, _url, real = target
    ops = operations(server)
    assert {op.label for op in ops} >= {"POST /api/threads", "POST /api/requests/{request_id}/decision"}

    for op in ops:

        @given(case=op.as_strategy(generation_mode=mode))
        @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
        def fuzz(case: Any) -> None:
            for name in ("thread_id", "request_id"):
                # Every other case aims at a real thread or request, so decisions and answers reach the store.
                if (
                    case.path_parameters
                    and name in case.path_parameters
                    and zlib.crc32(repr(case.body).encode()) % 2 == 0
                ):
                    case.path_parameters[name] = next(real[name])
            headers = {"Authorization": f"Bearer {API_TOKEN}"} if zlib.crc32(repr(case.query).encode()) % 7 else {}
            response = case.call(headers=headers, timeout=60)
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
            assert response.status_code < 500, (
                f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:300]}"
            )
            if case.method == "POST" and case.path == "/api/threads" and response.status_code == 201:
                launched.append(response.json()["id"])

        try:
            fuzz()
        except Unsatisfiable:
            # Nothing schema-invalid can be sent to some reads (GET /healthz, any string as an id).
            assert mode == schemathesis.GenerationMode.NEGATIVE and op.method.upper() == "GET", op.label
        assert server.alive(), f"signoff serve died while fuzzing {op.label}:\n{server.logs()[-3000:]}"


def test_afterwards_nothing_is_half_written(target: tuple[CrashableSignoff, str, dict[str, Any]]) -> None:
    server, url, _real = target
    assert server.alive()
    db = Database(url)
    try:
        with db.session() as session:
            rows = list(session.exec(select(ThreadRow)))
            inbox = list(session.exec(select(ReceiptRow)))
            standalone_rows = {s.thread_id for s in session.exec(select(StandaloneRow))}
        threads = {t.id for t in rows}
        # Requests made through /api/approvals, /api/questions and /humanlayer/v1 are threads of their own.
        standalone = {t.id for t in rows if t.agent == STANDALONE_AGENT}
        assert standalone == standalone_rows, "every standalone thread has its request, and only those"
        assert threads - standalone == set(launched), "threads exist exactly for the launches that answered 201"
        assert all(row.thread_id in threads for row in inbox)
        assert {k: v for k, v in database_problems(db, example_agent).items() if k not in standalone} == {}
    finally:
        db.dispose()
    record(
        f"[API fuzz] requests={sum(statuses.values())} by status={dict(sorted(statuses.items()))} server_errors=0 crashes=0 partial_writes=0"
    )
