"""Every benchmark runs in its tiny smoke mode and produces sane numbers, so none of them rots.

No timing target is asserted here: on a shared machine a test that asserts speed is a coin toss.
The figures come from `python -m bench.run_all` (bench/README.md).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest

from bench import (
    audit_chain,
    context_tokens,
    email_parse,
    first_call,
    langgraph_server,
    queue_scale,
    resume,
    run_all,
    slack_ack,
    startup,
    storage_size,
    throughput,
    waiting_scale,
)
from bench._common import Row, needs_langgraph
from tests.conftest import skip_or_fail
from tests.support.databases import postgres_available


@pytest.fixture
def langgraph() -> None:
    if (missing := needs_langgraph()) is not None:
        skip_or_fail(missing)


@pytest.fixture
def postgres() -> None:
    ok, reason = postgres_available()
    if not ok:
        skip_or_fail(reason)


def sane(rows: list[Row], count: int) -> None:
    assert len(rows) == count, rows
    for row in rows:
        assert math.isfinite(row.ours) and row.ours > 0, row
        assert math.isfinite(row.baseline) and row.baseline > 0, row
        assert row.target_text() or row.target is None
        assert row.met in (True, False, None)


def test_slack_ack_runs() -> None:
    rows = slack_ack.run(smoke=True)
    sane(rows, 4)
    p50, p99, top, _with_slow_tool = (r.ours for r in rows)
    assert p50 <= p99 <= top


@pytest.mark.usefixtures("langgraph")
def test_resume_runs() -> None:
    sane(resume.run(smoke=True), 2)


@pytest.mark.usefixtures("langgraph")
def test_storage_size_runs() -> None:
    rows = storage_size.run(smoke=True)
    sane(rows, 2)
    assert rows[0].ours < rows[1].ours  # more events, more bytes


@pytest.mark.usefixtures("langgraph", "postgres")
def test_throughput_runs() -> None:
    sane(throughput.run(smoke=True), 3)


@pytest.mark.usefixtures("postgres")
def test_waiting_scale_runs() -> None:
    sane(waiting_scale.run(smoke=True), 2)


def test_context_tokens_runs() -> None:
    [row] = context_tokens.run(smoke=True)
    sane([row], 1)
    assert 100 < row.ours < 100_000


def test_email_parse_runs() -> None:
    rows = email_parse.run(smoke=True)
    sane(rows, 8)
    assert all(row.unit in ("ms", "ms/KB") for row in rows)


def test_startup_runs() -> None:
    rows = startup.run(smoke=True)
    sane(rows, 3)
    assert rows[1].ours < rows[2].ours * 1.5  # idle RSS is not above RSS after a model call


@pytest.mark.usefixtures("postgres")
def test_queue_scale_runs() -> None:
    rows = queue_scale.run(smoke=True)
    sane(rows, 2)
    # The benchmark itself fails when the plan does not use the index; the note names it.
    assert all("ix_threads_status_updated" in row.note for row in rows)


def test_first_call_runs() -> None:
    rows = first_call.run(smoke=True)
    sane(rows, 3)
    assert all(row.unit == "ms" for row in rows)


@pytest.fixture
def langgraph_server_installed() -> None:
    if (missing := langgraph_server.needs_langgraph_server()) is not None:
        skip_or_fail(missing)


@pytest.mark.usefixtures("langgraph_server_installed")
def test_langgraph_server_runs() -> None:
    rows = langgraph_server.run(smoke=True)
    sane(rows, 3)
    assert [row.unit for row in rows] == ["ms", "ms", "cycles/s"]


@pytest.mark.usefixtures("postgres")
def test_audit_chain_runs() -> None:
    rows = audit_chain.run(smoke=True)
    sane(rows, 3)
    assert all("the chain verified" in row.note for row in rows)


def test_run_all_prints_one_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_all.main(["--smoke", "--only", "context_tokens"]) == 0
    out = capsys.readouterr().out
    assert "cores" in out and "benchmark" in out and "6 context tokens" in out


def test_every_benchmark_is_in_run_all() -> None:
    runs: list[Callable[..., list[Row]]] = [
        slack_ack.run,
        resume.run,
        storage_size.run,
        throughput.run,
        waiting_scale.run,
        context_tokens.run,
        startup.run,
        email_parse.run,
        queue_scale.run,
        first_call.run,
        langgraph_server.run,
        audit_chain.run,
    ]
    assert list(run_all.BENCHMARKS.values()) == runs
