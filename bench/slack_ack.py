"""1. Slack ack latency: signed app_mention events at a steady rate, time until Slack gets its answer.

Ours: `signoff serve` in Slack HTTP mode (SLACK_SIGNING_SECRET, SLACK_API_URL at the fake Slack Web
API in its own process), on SQLite, with a model that takes 1 s per call (its own process). Each
mention starts a new thread: its delivery is recorded durably before the 200 (one INSERT), the
thread is built right after; the agent works after (8 at a time, so a backlog builds up while the
load runs, as it would).
A second case runs the same load while every thread calls a plain `def` tool that blocks for 1 s
(`bench.agents:slow_check`), so each worker slot spends most of its time in a sync tool.
Baseline: a bare slack-bolt app that only acks (bench/_slack_processes.py), same stack (Bolt's
Starlette adapter under uvicorn), same signed requests.

The load is open-loop: request i is sent at start + i / rate whether or not earlier ones were
answered (aiohttp, keep-alive, up to 256 connections), each timed from send to the full response.
Every request is signed before the round starts. Rounds alternate bare / ours / ours with the slow
tool (3 rounds), each server fresh (so ours' backlog never runs during the baseline's round); p50,
p99, max are the median over rounds. Ours runs in serve's default process layout
(SIGNOFF_WORKER_PROCESSES unset: the ingress acks, worker processes do the agents' work). The
notes give the backlog when the load ended: threads not done yet plus deliveries not yet built
into threads, read from the database.

Run: python -m bench.slack_ack [--smoke]
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from bench._common import Row, median, model_calls, percentile, serve_env, signoff_process, table, wait_for, workdir
from bench._model_process import model_process
from bench._slack_processes import SECRET, process

NAME = "1 slack ack"


def signed_mentions(n: int, tag: str) -> list[tuple[bytes, dict[str, str]]]:
    from tests.support.slack_requests import app_mention, signed_event

    return [
        signed_event(SECRET, app_mention(f"<@UBOT> ping {i}", user="U0BOB", channel=f"C{i % 40}"), f"Ev{tag}x{i}")
        for i in range(n)
    ]


def load(url: str, rate: float, duration: float, tag: str) -> list[float]:
    """Seconds each request took, sent open-loop at `rate` per second for `duration` seconds."""
    return asyncio.run(_load(url, signed_mentions(int(rate * duration), tag), rate))


async def _load(url: str, requests: list[tuple[bytes, dict[str, str]]], rate: float) -> list[float]:
    import aiohttp

    latencies: list[float] = [0.0] * len(requests)
    failures: list[str] = []
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=256)) as session:

        async def one(i: int) -> None:
            body, headers = requests[i]
            started = time.perf_counter()
            async with session.post(url, data=body, headers=headers) as response:
                await response.read()
                if response.status != 200:
                    failures.append(f"{response.status}")
            latencies[i] = time.perf_counter() - started

        tasks = []
        start = time.perf_counter()
        for i in range(len(requests)):
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(i)))
        await asyncio.gather(*tasks)
    if failures:
        raise RuntimeError(f"{len(failures)} requests failed: {failures[:5]}")
    return latencies


def _warm(url: str, tag: str) -> None:
    # The first request makes Bolt call auth.test; a few more warm connections and caches.
    load(url, 20, 0.5, f"{tag}warm")


def bare_round(slack: dict[str, Any], rate: float, duration: float, tag: str) -> list[float]:
    from tests.support.signoff_process import free_port

    port = free_port()
    with process("bare-bolt", str(port), slack["api_url"], slack["bot_token"], reads_line=False):
        wait_for(lambda: _healthy(f"http://127.0.0.1:{port}/healthz"), 30, "the bare Bolt app", interval=0.05)
        url = f"http://127.0.0.1:{port}/slack/events"
        _warm(url, tag)
        return load(url, rate, duration, tag)


def backlog(database: Path) -> int:
    """Work still to do: threads not yet done or waiting, and deliveries not yet built into threads."""
    import sqlite3

    with contextlib.closing(sqlite3.connect(database, timeout=30)) as conn:
        running = conn.execute("SELECT count(*) FROM threads WHERE status = 'running'").fetchone()[0]
        unbuilt = conn.execute("SELECT count(*) FROM inbound").fetchone()[0] + _journaled(database)
    return int(running) + int(unbuilt)


def _journaled(database: Path) -> int:
    """Deliveries acknowledged into the intake journal beside the database (storage/intake.py)."""
    import sqlite3

    journal = database.with_name(database.name + "-intake")
    if not journal.exists():
        return 0
    with contextlib.closing(sqlite3.connect(journal, timeout=30)) as conn:
        return int(conn.execute("SELECT count(*) FROM inbound").fetchone()[0])


def ours_round(
    directory: Path,
    slack: dict[str, Any],
    model_url: str,
    rate: float,
    duration: float,
    tag: str,
    agent: str = "bot.example_agent:agent",
) -> tuple[list[float], int]:
    """Each ack's seconds, and the backlog when the load ended."""
    directory.mkdir(parents=True)
    env = serve_env(
        f"sqlite:///{directory / 'signoff.db'}",
        model_url,
        agent,
        SLACK_BOT_TOKEN=slack["bot_token"],
        SLACK_SIGNING_SECRET=SECRET,
        SLACK_API_URL=slack["api_url"],
        SIGNOFF_APPROVERS="U0BOSS",
    )
    server = signoff_process(env, directory)
    server.env.pop("SIGNOFF_WORKER_PROCESSES")  # serve's default layout, as users run it
    try:
        server.start(timeout=120)
        url = f"{server.url}/slack/events"
        _warm(url, tag)
        # Steady state: litellm is imported by the first model call (once per process, off the
        # event loop); the load starts once that call is done.
        wait_for(lambda: model_calls(server.url) >= 1, 180, "the first model call", interval=0.1)
        latencies = load(url, rate, duration, tag)
        return latencies, backlog(directory / "signoff.db")
    finally:
        server.stop()


def _healthy(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def run(smoke: bool = False) -> list[Row]:
    rounds, rate, duration = (1, 20.0, 1.0) if smoke else (3, 200.0, 20.0)
    bare: list[list[float]] = []
    ours: list[list[float]] = []
    slow: list[list[float]] = []
    backlogs: list[int] = []
    slow_backlogs: list[int] = []
    with (
        workdir("slack") as directory,
        process("fake-slack") as slack,
        model_process("text", 1.0) as model_url,
        model_process("slow-tool", 1.0) as slow_model_url,
    ):
        for r in range(rounds):
            bare.append(bare_round(slack, rate, duration, f"b{r}"))
            acks, left = ours_round(directory / f"round-{r}", slack, model_url, rate, duration, f"o{r}")
            ours.append(acks)
            backlogs.append(left)
            acks, left = ours_round(
                directory / f"slow-{r}", slack, slow_model_url, rate, duration, f"s{r}", agent="bench.agents:agent"
            )
            slow.append(acks)
            slow_backlogs.append(left)
    started = int(rate * duration)
    backlog_note = f"{started:,} threads started (and 10 by the warm-up); backlog when the load ended: {backlogs}"
    rows = []
    for label, p in (("p50", 50.0), ("p99", 99.0), ("max", 100.0)):
        rows.append(
            Row(
                NAME,
                f"ack {label}, {rate:g}/s for {duration:g} s, model 1 s/call",
                median([percentile(r, p) for r in ours]) * 1000,
                median([percentile(r, p) for r in bare]) * 1000,
                "ms",
                target=("<=", 2.0) if label == "p99" else None,
                baseline_name="bare Bolt app",
                note=backlog_note if label == "p99" else "",
            )
        )
    rows.append(
        Row(
            NAME,
            f"ack p99, {rate:g}/s for {duration:g} s, model 1 s/call, then a 1 s sync tool per thread",
            median([percentile(r, 99.0) for r in slow]) * 1000,
            median([percentile(r, 99.0) for r in bare]) * 1000,
            "ms",
            target=("<=", 2.0),
            baseline_name="bare Bolt app",
            note=f"backlog when the load ended: {slow_backlogs}",
        )
    )
    return rows


if __name__ == "__main__":
    print(table(run(smoke="--smoke" in sys.argv)))
