"""2. Resume: from a human's decision to the approved tool starting, and full interrupt/resume cycles.

Ours: a real `signoff serve` (SQLite, its own process) and the scripted model in another process,
zero latency. A thread is launched through the HTTP API, the model asks for the gated tool `act`,
the thread waits. Measured: the benchmark notes the time, POSTs `/api/requests/{id}/decision`, and
`act` stamps the moment it starts (CLOCK_MONOTONIC is system-wide). Includes: the HTTP request,
authorization, recording the decision durably, waking the worker, its lease, reloading the thread,
the reducer, and the approval check.

Baseline: the same agent as a LangGraph graph (bench/langgraph_agent.py) on SqliteSaver, called in
the benchmark's own process: `invoke(Command(resume=True))` until the tool starts. Includes: loading
the checkpoint, the resume, the interrupt returning. No HTTP, no process hop.

Cycles per second: launch, model asks for approval, pause, approve, tool runs, model answers, done.
Ours: N threads launched and approved through the HTTP API, the server working on 8 at a time.
Baseline: N threads through the graph, one after another (invoke, then resume), the model reached
through litellm like ours.

Run: python -m bench.resume [--smoke]
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import bindparam, text

from bench._common import Row, alternate, median, serve_env, signoff_process, table, wait_for, workdir
from bench._model_process import model_process
from bench.agents import started_at
from tests.support.signoff_process import API_TOKEN

NAME = "2 resume"


class OursResume:
    """A running `signoff serve` on `url`, and the benchmark reading its database directly."""

    def __init__(self, directory: Path, model_url: str, url: str | None = None) -> None:
        from storage.db import Database

        url = url or f"sqlite:///{directory / 'signoff.db'}"
        self.process = signoff_process(serve_env(url, model_url, "bench.agents:agent"), directory).start()
        self.api = self.process.client()
        self.db = Database(url)

    def close(self) -> None:
        self.api.close()
        self.process.stop()
        self.db.dispose()

    def _query(self, sql: str, **params: Any) -> list[Any]:
        with self.db.engine.connect() as conn:
            return list(conn.execute(text(sql), params))

    def _pending(self, thread_ids: list[str]) -> list[tuple[str, str]]:
        query = text("SELECT id, thread_id FROM requests WHERE status = 'pending' AND thread_id IN :ids")
        with self.db.engine.connect() as conn:
            rows = list(conn.execute(query.bindparams(bindparam("ids", expanding=True)), {"ids": thread_ids}))
        order = {t: i for i, t in enumerate(thread_ids)}
        return sorted(((r[0], r[1]) for r in rows), key=lambda r: order[r[1]])

    def _status(self, thread_id: str) -> str:
        return str(self._query("SELECT status FROM threads WHERE id = :id", id=thread_id)[0][0])

    def prepare(self, n: int) -> list[tuple[str, str]]:
        """n new threads, each waiting for an approval: (request id, thread id)."""
        ids = []
        for _ in range(n):
            response = self.api.post("/api/threads", json={"message": "please act", "by": "bob"})
            response.raise_for_status()
            ids.append(response.json()["id"])
        return wait_for(lambda: (p := self._pending(ids)) and len(p) == n and p, 60, f"{n} pending approvals")

    def decision_to_tool(self, n: int) -> list[float]:
        """Seconds from sending each decision to the tool's start, one thread at a time."""
        samples = []
        for request_id, thread_id in self.prepare(n):
            t0 = time.monotonic()
            self.api.post(
                f"/api/requests/{request_id}/decision", json={"decision": "approve", "by": "alice@example.com"}
            ).raise_for_status()
            wait_for(lambda t=thread_id: self._status(t) == "done", 30, "the thread to finish", interval=0.001)
            (data,) = self._query(
                "SELECT data FROM events WHERE thread_id = :id AND type = 'tool_result'", id=thread_id
            )[0]
            samples.append(started_at(json.loads(data)["result"]) - t0)
        return samples

    def _done(self) -> int:
        return int(self._query("SELECT count(*) FROM threads WHERE status = 'done'")[0][0])

    def _all_pending(self) -> list[str]:
        return [r[0] for r in self._query("SELECT id FROM requests WHERE status = 'pending'")]

    def cycles_per_second(self, n: int) -> float:
        return asyncio.run(self._cycles(n))

    async def _cycles(self, n: int) -> float:
        limits = asyncio.Semaphore(8)
        before = self._done()
        decided: set[str] = set()
        headers = {"Authorization": f"Bearer {API_TOKEN}"}
        async with httpx.AsyncClient(base_url=self.process.url, headers=headers, timeout=30) as client:

            async def post(path: str, body: dict[str, Any]) -> None:
                async with limits:
                    (await client.post(path, json=body)).raise_for_status()

            started = time.monotonic()
            launch = {"message": "please act", "by": "bob"}
            tasks = [asyncio.create_task(post("/api/threads", launch)) for _ in range(n)]
            while True:
                for request_id in self._all_pending():
                    if request_id not in decided:
                        decided.add(request_id)
                        path = f"/api/requests/{request_id}/decision"
                        approval = {"decision": "approve", "by": "alice@example.com"}
                        tasks.append(asyncio.create_task(post(path, approval)))
                if self._done() - before >= n:
                    break
                if time.monotonic() - started > 120:
                    raise TimeoutError("cycles did not finish in 120 s")
                await asyncio.sleep(0.002)
            elapsed = time.monotonic() - started
            await asyncio.gather(*tasks)
        return n / elapsed


class LangGraphResume:
    def __init__(self, directory: Path, model_url: str) -> None:
        from bench.langgraph_agent import LangGraphAgent

        self.agent = LangGraphAgent(directory / "langgraph.db", model_url)
        self.count = 0

    def close(self) -> None:
        self.agent.close()

    def _new(self) -> str:
        self.count += 1
        thread_id = f"t{self.count}"
        self.agent.start(thread_id, "please act")
        return thread_id

    def decision_to_tool(self, n: int) -> list[float]:
        samples = []
        for thread_id in [self._new() for _ in range(n)]:
            t0 = time.monotonic()
            self.agent.resume(thread_id, True)
            samples.append(self.agent.started[thread_id] - t0)
        return samples

    def cycles_per_second(self, n: int) -> float:
        started = time.monotonic()
        for _ in range(n):
            self.agent.resume(self._new(), True)
        return n / (time.monotonic() - started)


def run(smoke: bool = False) -> list[Row]:
    from bench._common import needs_langgraph

    if (missing := needs_langgraph()) is not None:
        raise RuntimeError(missing)
    rounds, samples, cycles = (1, 3, 4) if smoke else (3, 30, 100)
    with workdir("resume") as directory, model_process("approve-once") as model_url:
        ours, theirs = OursResume(directory, model_url), LangGraphResume(directory, model_url)
        try:
            # Warm both (imports, connections, first model calls) before measuring.
            ours.decision_to_tool(2)
            theirs.decision_to_tool(2)
            latency_ours, latency_theirs = alternate(
                rounds, lambda: ours.decision_to_tool(samples), lambda: theirs.decision_to_tool(samples)
            )
            rate_ours, rate_theirs = alternate(
                rounds, lambda: ours.cycles_per_second(cycles), lambda: theirs.cycles_per_second(cycles)
            )
        finally:
            ours.close()
            theirs.close()
    p50_ours = median([median(r) for r in latency_ours]) * 1000
    p50_theirs = median([median(r) for r in latency_theirs]) * 1000
    return [
        Row(
            NAME,
            "decision -> tool start, p50",
            p50_ours,
            p50_theirs,
            "ms",
            target=("<=", 0.2),
            baseline_name="LangGraph",
            note="ours over HTTP to a separate process and committed; LangGraph in-process, no HTTP",
        ),
        Row(
            NAME,
            "interrupt/resume cycles per second",
            median(rate_ours),
            median(rate_theirs),
            "cycles/s",
            target=(">=", 5),
            baseline_name="LangGraph",
            note="ours: 8 threads at a time over the HTTP API; LangGraph: one after another, in-process",
        ),
    ]


if __name__ == "__main__":
    print(table(run(smoke="--smoke" in sys.argv)))
