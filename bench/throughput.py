"""4. Throughput: agent steps per second, zero-latency model over HTTP.

Each thread: the model calls the ungated tool `lookup` 4 times, then answers: 9 steps (5 model
calls, 4 tool runs), each recorded durably before the next. N threads are launched through the
HTTP API (16 requests in flight); steps per second = steps recorded / time from the first launch
until every thread is done. The scripted model runs in its own process.

- one `signoff serve` on SQLite, and on PostgreSQL;
- two `signoff serve` processes on one PostgreSQL database, launches spread over both;
- baseline for one process: the same agent as a LangGraph graph on SqliteSaver, in the benchmark's
  process, threads one after another (each model answer and tool result a superstep);
- baseline for two processes: one process on PostgreSQL, alternating in the same run.

Run: python -m bench.throughput [--smoke]
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
from sqlalchemy import text

from bench._common import (
    Row,
    alternate,
    median,
    model_calls,
    needs_langgraph,
    serve_env,
    signoff_process,
    table,
    workdir,
)
from bench._model_process import model_process

NAME = "4 throughput"
LOOKUPS = 4
STEPS_PER_THREAD = 2 * LOOKUPS + 1


class Servers:
    """One or more `signoff serve` processes on one database."""

    def __init__(self, url: str, model_url: str, directory: Path, count: int) -> None:
        from storage.db import Database

        self.processes = []
        for i in range(count):
            sub = directory / f"serve-{i}"
            sub.mkdir(parents=True)
            self.processes.append(signoff_process(serve_env(url, model_url, "bench.agents:agent"), sub).start())
        self.db = Database(url)

    def close(self) -> None:
        for process in self.processes:
            process.stop()
        self.db.dispose()

    def warm(self) -> None:
        """Until every process has called the model once (litellm is imported on the first call)."""
        deadline = time.monotonic() + 120
        while not all(model_calls(p.url) for p in self.processes):
            if time.monotonic() > deadline:
                raise TimeoutError("the servers did not call the model in 120 s")
            self.steps_per_second(len(self.processes))

    def _counts(self) -> tuple[int, int]:
        with self.db.engine.connect() as conn:
            done = conn.execute(text("SELECT count(*) FROM threads WHERE status = 'done'")).scalar_one()
            steps = conn.execute(text("SELECT count(*) FROM events WHERE type <> 'human_message'")).scalar_one()
        return int(done), int(steps)

    def steps_per_second(self, n: int) -> float:
        return asyncio.run(self._run(n))

    async def _run(self, n: int) -> float:
        done_before, steps_before = self._counts()
        limit = asyncio.Semaphore(16)
        clients = [
            httpx.AsyncClient(base_url=p.url, headers=dict(p.client().headers), timeout=30) for p in self.processes
        ]

        async def launch(i: int) -> None:
            async with limit:
                response = await clients[i % len(clients)].post("/api/threads", json={"message": "look up", "by": "b"})
                response.raise_for_status()

        try:
            started = time.monotonic()
            tasks = [asyncio.create_task(launch(i)) for i in range(n)]
            while True:
                done, steps = await asyncio.to_thread(self._counts)
                if done - done_before >= n:
                    break
                if time.monotonic() - started > 180:
                    raise TimeoutError(f"{n} threads did not finish in 180 s")
                await asyncio.sleep(0.01)
            elapsed = time.monotonic() - started
            await asyncio.gather(*tasks)
        finally:
            for client in clients:
                await client.aclose()
        steps -= steps_before
        if steps < n * STEPS_PER_THREAD:
            raise RuntimeError(f"expected {n * STEPS_PER_THREAD} steps, recorded {steps}")
        return steps / elapsed


class LangGraphSteps:
    def __init__(self, directory: Path, model_url: str) -> None:
        from bench.langgraph_agent import LangGraphAgent

        self.agent = LangGraphAgent(directory / "langgraph.db", model_url)
        self.count = 0

    def steps_per_second(self, n: int) -> float:
        started = time.monotonic()
        for _ in range(n):
            self.count += 1
            result = self.agent.start(f"t{self.count}", "look up")
            assert len(result["messages"]) == 1 + STEPS_PER_THREAD
        return n * STEPS_PER_THREAD / (time.monotonic() - started)


@contextlib.contextmanager
def postgres_urls(count: int) -> Iterator[list[str]]:
    from tests.support.databases import postgres_database

    with contextlib.ExitStack() as stack:
        yield [stack.enter_context(postgres_database()) for _ in range(count)]


def run(smoke: bool = False, postgres: bool = True) -> list[Row]:
    if (missing := needs_langgraph()) is not None:
        raise RuntimeError(missing)
    rounds, n = (1, 3) if smoke else (3, 40)
    with (
        workdir("throughput") as directory,
        model_process(f"lookups-{LOOKUPS}") as model_url,
        postgres_urls(2 if postgres else 0) as pg,
    ):
        servers = [Servers(f"sqlite:///{directory / 'signoff.db'}", model_url, directory / "sqlite", 1)]
        if postgres:
            servers.append(Servers(pg[0], model_url, directory / "pg1", 1))
            servers.append(Servers(pg[1], model_url, directory / "pg2", 2))
        langgraph = LangGraphSteps(directory, model_url)
        try:
            for s in servers:  # warm: imports, connections, the first model calls
                s.warm()
            langgraph.steps_per_second(2)
            measures = [lambda: langgraph.steps_per_second(n)]
            measures += [lambda s=s: s.steps_per_second(n) for s in servers]
            measured = alternate(rounds, *measures)
        finally:
            for s in servers:
                s.close()
    lg, sqlite_1, *pg_rates = (median(m) for m in measured)
    rows = [
        Row(
            NAME,
            "steps/s, 1 process, SQLite",
            sqlite_1,
            lg,
            "steps/s",
            target=(">=", 300),
            absolute=True,
            baseline_name="LangGraph",
        )
    ]
    if postgres:
        pg_1, pg_2 = pg_rates
        rows.append(Row(NAME, "steps/s, 1 process, PostgreSQL", pg_1, lg, "steps/s", baseline_name="LangGraph"))
        rows.append(
            Row(
                NAME,
                "steps/s, 2 processes, PostgreSQL",
                pg_2,
                pg_1,
                "steps/s",
                target=(">=", 1.8),
                baseline_name="1 process",
            )
        )
    return rows


if __name__ == "__main__":
    print(table(run(smoke="--smoke" in sys.argv)))
