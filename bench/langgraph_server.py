"""11. LangGraph Server: the resume over HTTP, and the server's CPU per cycle, against `langgraph dev`.

Ours: `signoff serve` (SQLite, its default process layout: a supervisor, the ingress and the worker
processes), the bench agent (bench/agents.py). Theirs: LangGraph Server as `langgraph dev` runs it
(`langgraph-cli[inmem]`: langgraph-api on its in-memory runtime, `--no-reload`, 8 jobs per worker
to match our 8 worker slots), serving the same graph shape as bench/langgraph_agent.py
(bench/_langgraph_server_graph.py). Both started fresh for this run, on loopback; both reach the
same scripted model (bench/_model_process.py, zero latency, its own process) through litellm.

LangGraph Server runs from a virtualenv of its own (`.venv-langgraph-server`, from
bench/requirements-langgraph-server.txt with the product's litellm version; scripts/test makes
it): langgraph-api pins jsonschema-rs below what the product's test dependency schemathesis needs,
so the two cannot share one. Its in-memory queue looks for new runs on a fixed 0.5 s sleep
(`langgraph_runtime_inmem.ops.Runs.next`); the benchmark lowers it to 5 ms so that the server's own
cost shows, through a `sitecustomize.py` it writes into a temporary directory on the server's
PYTHONPATH (an import hook that replaces the constant in that function's code once the module is
loaded, and says so in the server's log: the benchmark fails if it does not). The price of that
lower poll (the server wakes 200 times a second, busy or not) is in its CPU; the row's note gives
each server's idle CPU.

Measured, rounds alternating between the two servers:
- decision -> tool start: a thread is brought to its approval (ours: POST /api/threads, long polls
  on GET /api/threads/{id}?wait=; theirs: POST /threads, POST /threads/{id}/runs/wait), then the
  benchmark notes the time and sends the decision (ours: POST /api/requests/{id}/decision; theirs:
  POST /threads/{id}/runs/wait with `command.resume`); the tool stamps its start (CLOCK_MONOTONIC).
  One thread at a time; p50.
- server CPU per cycle: N start -> pause -> approve -> done cycles over HTTP, 8 clients at a time,
  each cycle as above to the end; utime + stime (and the reaped children's) of the server's whole
  process tree from /proc, before and after, divided by N. Cycles per second too (no target).

Run: python -m bench.langgraph_server [--smoke]
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from bench._common import REPO, Row, alternate, median, serve_env, signoff_process, table, wait_for, workdir
from bench._model_process import model_process
from bench.agents import started_at

NAME = "11 langgraph server"
POLL = 0.005  # LangGraph's queue poll, lowered from its fixed 0.5 s
CONCURRENCY = 8
TICK = os.sysconf("SC_CLK_TCK")

SITECUSTOMIZE = '''\
"""Written by bench/langgraph_server.py for one run of LangGraph Server (never into site-packages):
lower the in-memory queue's fixed 0.5 s look for new runs to BENCH_LANGGRAPH_POLL seconds."""
import importlib.abc
import importlib.util
import os
import sys

TARGET = "langgraph_runtime_inmem.ops"
POLL = float(os.environ["BENCH_LANGGRAPH_POLL"])


def _lower(module):
    function = module.Runs.__dict__["next"].__func__
    code = function.__code__
    if code.co_consts.count(0.5) != 1:
        raise RuntimeError(f"{TARGET}.Runs.next is not what the benchmark expects: {code.co_consts}")
    function.__code__ = code.replace(co_consts=tuple(POLL if c == 0.5 else c for c in code.co_consts))
    print(f"bench: {TARGET}.Runs.next looks for new runs every {POLL} s", file=sys.stderr, flush=True)


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name != TARGET:
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        load = spec.loader.exec_module

        def exec_module(module):
            load(module)
            _lower(module)

        spec.loader.exec_module = exec_module
        return spec


sys.meta_path.insert(0, _Finder())
'''


def server_venv() -> Path:
    return Path(os.environ.get("BENCH_LANGGRAPH_SERVER_VENV", REPO / ".venv-langgraph-server"))


def needs_langgraph_server() -> str | None:
    """None when LangGraph Server's virtualenv is there, else how to make it."""
    if (server_venv() / "bin" / "langgraph").exists():
        return None
    return (
        f"LangGraph Server is not installed in {server_venv()}: python3 -m venv .venv-langgraph-server && "
        ".venv-langgraph-server/bin/pip install -r bench/requirements-langgraph-server.txt "
        '"litellm==$(.venv/bin/python -c \'import litellm, importlib.metadata as m; print(m.version("litellm"))\')"'
    )


def tree_cpu(root: int) -> float:
    """CPU seconds of a process and all its descendants (and the children they reaped), from /proc."""
    stats: dict[int, tuple[int, float]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # after the command: state ppid ... utime(14) stime(15) cutime(16) cstime(17), 1-based in stat(5)
        stats[int(entry.name)] = (int(fields[1]), sum(int(f) for f in fields[11:15]) / TICK)
    tree, total = {root}, 0.0
    grew = True
    while grew:
        grew = False
        for pid, (parent, _) in stats.items():
            if parent in tree and pid not in tree:
                tree.add(pid)
                grew = True
    for pid in tree:
        total += stats.get(pid, (0, 0.0))[1]
    return total


class Ours:
    """A running `signoff serve`, driven over its HTTP API only."""

    def __init__(self, directory: Path, model_url: str) -> None:
        env = serve_env(f"sqlite:///{directory / 'signoff.db'}", model_url, "bench.agents:agent")
        self.process = signoff_process(env, directory)
        self.process.env.pop("SIGNOFF_WORKER_PROCESSES")  # serve's default layout, as users run it
        try:
            self.process.start(timeout=120)  # a loaded machine: the benchmark waits, the figures say
        except BaseException:
            self.process.stop()
            raise
        self.headers = dict(self.process.client().headers)

    @property
    def pid(self) -> int:
        assert self.process.proc is not None
        return self.process.proc.pid

    def close(self) -> None:
        self.process.stop()

    @staticmethod
    def _request_id(body: dict[str, Any]) -> str:
        return next(str(e["request_id"]) for e in body["events"] if e["type"] == "approval_requested")

    @staticmethod
    def _stamp(body: dict[str, Any]) -> float:
        return next(started_at(e["result"]) for e in body["events"] if e["type"] == "tool_result")

    async def _until(self, client: httpx.AsyncClient, thread_id: str, known: str, want: str) -> dict[str, Any]:
        """Long polls until the thread's status is `want`."""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            response = await client.get(f"/api/threads/{thread_id}", params={"wait": 30, "status": known})
            response.raise_for_status()
            body: dict[str, Any] = response.json()
            if body["status"] == want:
                return body
            if body["status"] in ("done", "failed"):
                raise RuntimeError(f"thread {thread_id} ended {body['status']} waiting to be {want}")
            known = body["status"]
        raise TimeoutError(f"thread {thread_id} not {want} after 60 s")

    async def paused(self, client: httpx.AsyncClient) -> tuple[str, str]:
        """A new thread waiting for its approval: (thread id, request id)."""
        response = await client.post("/api/threads", json={"message": "please act", "by": "bob"})
        response.raise_for_status()
        thread_id = response.json()["id"]
        return thread_id, self._request_id(await self._until(client, thread_id, "running", "waiting"))

    async def approve(self, client: httpx.AsyncClient, thread_id: str, request_id: str) -> float:
        """Approve and wait for the end; the tool's start, less the moment the decision was sent."""
        sent = time.monotonic()
        response = await client.post(
            f"/api/requests/{request_id}/decision", json={"decision": "approve", "by": "alice@example.com"}
        )
        response.raise_for_status()
        return self._stamp(await self._until(client, thread_id, "waiting", "done")) - sent

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.process.url, headers=self.headers, timeout=60)


class Theirs:
    """A running `langgraph dev`, driven over its HTTP API."""

    def __init__(self, directory: Path, model_url: str) -> None:
        from tests.support.signoff_process import free_port

        site = directory / "site"
        site.mkdir(parents=True)
        (site / "sitecustomize.py").write_text(SITECUSTOMIZE)
        graph = REPO / "bench" / "_langgraph_server_graph.py"
        config = {"graphs": {"agent": f"{graph}:graph"}, "dependencies": ["."]}
        (directory / "langgraph.json").write_text(json.dumps(config))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = directory / "langgraph-server.log"
        env = {
            **os.environ,
            "PYTHONPATH": f"{site}{os.pathsep}{REPO}",
            "BENCH_LANGGRAPH_POLL": str(POLL),
            "BENCH_MODEL_URL": model_url,
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",
            "LANGGRAPH_CLI_NO_ANALYTICS": "1",
            "LANGSMITH_TRACING": "false",
            "LANGCHAIN_TRACING_V2": "false",
        }
        command = [str(server_venv() / "bin" / "langgraph"), "dev", "--host", "127.0.0.1", "--port", str(self.port)]
        command += ["--no-browser", "--no-reload", "--n-jobs-per-worker", str(CONCURRENCY)]
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                command, cwd=directory, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        try:
            wait_for(self._ready, 180, "LangGraph Server's /ok", interval=0.05)
            if "Runs.next looks for new runs every" not in self.log_path.read_text(errors="replace"):
                raise RuntimeError(f"the queue poll was not lowered:\n{self.log_path.read_text(errors='replace')}")
        except BaseException:
            self.close()
            raise

    def _ready(self) -> bool:
        if self.proc.poll() is not None:
            raise RuntimeError(f"langgraph dev exited:\n{self.log_path.read_text(errors='replace')}")
        try:
            return httpx.get(f"{self.url}/ok", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    @property
    def pid(self) -> int:
        return self.proc.pid

    def close(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)

    async def _run(self, client: httpx.AsyncClient, thread_id: str, body: dict[str, Any]) -> dict[str, Any]:
        response = await client.post(f"/threads/{thread_id}/runs/wait", json={"assistant_id": "agent", **body})
        response.raise_for_status()
        values: dict[str, Any] = json.loads(response.content)  # after the blank lines it sends while waiting
        return values

    async def paused(self, client: httpx.AsyncClient) -> tuple[str, str]:
        response = await client.post("/threads", json={})
        response.raise_for_status()
        thread_id = response.json()["thread_id"]
        values = await self._run(
            client, thread_id, {"input": {"messages": [{"role": "user", "content": "please act"}]}}
        )
        if not values.get("__interrupt__"):
            raise RuntimeError(f"thread {thread_id} did not pause: {values}")
        return thread_id, thread_id

    async def approve(self, client: httpx.AsyncClient, thread_id: str, _request_id: str) -> float:
        sent = time.monotonic()
        values = await self._run(client, thread_id, {"command": {"resume": True}})
        if values["messages"][-1].get("content") != "Done.":
            raise RuntimeError(f"thread {thread_id} did not finish: {values}")
        return next(started_at(m["content"]) for m in values["messages"] if m["role"] == "tool") - sent

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.url, timeout=60)


Server = Ours | Theirs


def decision_to_tool(server: Server, n: int) -> list[float]:
    """n threads brought to their approval, then approved one at a time: seconds to the tool's start."""

    async def measure() -> list[float]:
        async with server.client() as client:
            paused = [await server.paused(client) for _ in range(n)]
            return [await server.approve(client, *p) for p in paused]

    return asyncio.run(measure())


def cycles(server: Server, n: int) -> tuple[float, float]:
    """n full cycles, CONCURRENCY at a time: (server CPU seconds per cycle, cycles per second)."""

    async def measure() -> float:
        todo = iter(range(n))

        async def client_loop(client: httpx.AsyncClient) -> None:
            for _ in todo:
                await server.approve(client, *(await server.paused(client)))

        clients = [server.client() for _ in range(CONCURRENCY)]
        try:
            began = time.monotonic()
            await asyncio.gather(*(client_loop(c) for c in clients))
            return time.monotonic() - began
        finally:
            for c in clients:
                await c.aclose()

    cpu = tree_cpu(server.pid)
    elapsed = asyncio.run(measure())
    return (tree_cpu(server.pid) - cpu) / n, n / elapsed


def idle_cpu(server: Server, seconds: float) -> float:
    """CPU seconds per second the server spends doing nothing."""
    before = tree_cpu(server.pid)
    time.sleep(seconds)
    return (tree_cpu(server.pid) - before) / seconds


def run(smoke: bool = False) -> list[Row]:
    if (missing := needs_langgraph_server()) is not None:
        raise RuntimeError(missing)
    rounds, samples, n = (1, 3, 4) if smoke else (3, 30, 100)
    with workdir("langgraph-server") as directory, model_process("approve-once") as model_url:
        (directory / "ours").mkdir()
        ours = Ours(directory / "ours", model_url)
        try:
            theirs = Theirs(directory / "theirs", model_url)
            try:
                # Warm both: imports (litellm on the first model call), connections, caches.
                cycles(ours, CONCURRENCY)
                cycles(theirs, CONCURRENCY)
                idle = (idle_cpu(ours, 2.0), idle_cpu(theirs, 2.0))
                latency_ours, latency_theirs = alternate(
                    rounds, lambda: decision_to_tool(ours, samples), lambda: decision_to_tool(theirs, samples)
                )
                cycle_ours, cycle_theirs = alternate(rounds, lambda: cycles(ours, n), lambda: cycles(theirs, n))
            finally:
                theirs.close()
        finally:
            ours.close()
    baseline = "LangGraph Server"
    idle_note = f"idle CPU: ours {idle[0] * 1000:.0f} ms/s, LangGraph Server's {idle[1] * 1000:.0f} ms/s"
    return [
        Row(
            NAME,
            "decision -> tool start over HTTP, p50",
            median([median(r) for r in latency_ours]) * 1000,
            median([median(r) for r in latency_theirs]) * 1000,
            "ms",
            target=("<=", 0.5),
            baseline_name=baseline,
            note=f"its queue poll lowered to {POLL * 1000:g} ms; one thread at a time",
        ),
        Row(
            NAME,
            "server CPU per start -> pause -> approve -> done cycle",
            median([c[0] for c in cycle_ours]) * 1000,
            median([c[0] for c in cycle_theirs]) * 1000,
            "ms",
            target=("<=", 0.5),
            baseline_name=baseline,
            note=f"{CONCURRENCY} clients at a time, {n} cycles a round, whole process trees; {idle_note}",
        ),
        Row(
            NAME,
            "cycles per second over HTTP",
            median([c[1] for c in cycle_ours]),
            median([c[1] for c in cycle_theirs]),
            "cycles/s",
            baseline_name=baseline,
        ),
    ]


if __name__ == "__main__":
    print(table(run(smoke="--smoke" in sys.argv)))
