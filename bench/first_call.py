"""10. First call: the first model call after `signoff serve` starts, against a warm one.

Ours: a real `signoff serve` in its default process layout (SIGNOFF_WORKER_PROCESSES unset: a
supervisor, the ingress and cores - 1 worker processes), the bench agent on SQLite, the scripted
model in a process of its own (bench/_model_process.py, `text`: it answers every call with text at
once, so a thread is one model call). Each round starts a new server on a new database: spawned,
ready at the first 200 from /healthz (polled every 5 ms), then 2 s pass (a user's first message
does not come at the same millisecond), then 5 threads are launched one after another through
the HTTP API, each followed to its end with the long poll (`GET /api/threads/{id}?wait=30`).

Figure: thread 1's time from POST /api/threads to done (its one model call, plus the launch and one
append); baseline: thread 5's, on the same server (warm). A second row takes the model call alone,
from /metrics (`signoff_model_call_seconds`, which includes waiting for litellm's import): the
first call's against the fifth's. A third row launches the first thread at once when /healthz
answers (0 s): what the background warm-up has not yet done by then.

There is no way to switch the warm-up off without changing the product, so the first call without
it is not measured. What it would wait for is litellm's import: the row's note gives that, timed in
a fresh interpreter in the same run (`import litellm`, less an empty interpreter's start).
Rounds alternate between the 2 s and the 0 s start; medians over rounds.

Run: python -m bench.first_call [--smoke]
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx

from bench._common import Row, alternate, median, serve_env, signoff_process, table, workdir
from bench._model_process import model_process

NAME = "10 first call"
THREADS = 5
PAUSE = 2.0


def _model_seconds(client: httpx.Client) -> tuple[float, float]:
    """(sum, count) of signoff_model_call_seconds, over every process."""
    total = count = 0.0
    for line in client.get("/metrics").text.splitlines():
        if line.startswith("signoff_model_call_seconds_sum"):
            total += float(line.rsplit(" ", 1)[1])
        elif line.startswith("signoff_model_call_seconds_count"):
            count += float(line.rsplit(" ", 1)[1])
    return total, count


def _thread(client: httpx.Client) -> float:
    """Seconds from launching a thread to its end."""
    began = time.monotonic()
    response = client.post("/api/threads", json={"message": "hello", "by": "bob"})
    response.raise_for_status()
    thread_id, status = response.json()["id"], response.json()["status"]
    deadline = began + 120
    while status == "running":
        if time.monotonic() > deadline:
            raise TimeoutError(f"thread {thread_id} not done after 120 s")
        response = client.get(f"/api/threads/{thread_id}", params={"wait": 30, "status": "running"})
        response.raise_for_status()
        status = response.json()["status"]
    if status != "done":
        raise RuntimeError(f"thread {thread_id} ended {status}")
    return time.monotonic() - began


def serve_round(directory: Path, model_url: str, pause: float) -> tuple[list[float], list[float]]:
    """A new server: (each thread's launch -> done, each thread's model call), in launch order."""
    directory.mkdir(parents=True)
    process = signoff_process(
        serve_env(f"sqlite:///{directory / 'signoff.db'}", model_url, "bench.agents:agent"), directory
    )
    process.env.pop("SIGNOFF_WORKER_PROCESSES")  # serve's default layout, as users run it
    process.starts += 1
    log = open(process.log_path, "wb")  # noqa: SIM115 (closed below)
    process.proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "serve"],
        env=process.env,
        cwd=directory,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        with process.client() as client:
            client.timeout = httpx.Timeout(60)
            started = time.monotonic()
            while True:
                if process.proc.poll() is not None:
                    raise RuntimeError(f"signoff serve exited:\n{process.log_path.read_text()}")
                if time.monotonic() - started > 120:
                    raise TimeoutError("signoff serve not healthy after 120 s")
                try:
                    if client.get("/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.005)
            time.sleep(pause)  # the scenario's moment between the start and a first message
            ends, calls = [], []
            for _ in range(THREADS):
                before, count = _model_seconds(client)
                ends.append(_thread(client))
                after, count_after = _model_seconds(client)
                if count_after != count + 1:
                    raise RuntimeError(f"expected one model call, /metrics counted {count_after - count}")
                calls.append(after - before)
            return ends, calls
    finally:
        process.stop()
        log.close()


def import_seconds() -> float:
    """litellm's import in a fresh interpreter, less the interpreter's own start."""

    def timed(code: str) -> float:
        began = time.monotonic()
        subprocess.run([sys.executable, "-c", code], check=True, env={"LITELLM_LOCAL_MODEL_COST_MAP": "True"})
        return time.monotonic() - began

    return timed("import litellm") - timed("pass")


def run(smoke: bool = False) -> list[Row]:
    rounds = 1 if smoke else 3
    counter = iter(range(1_000))
    with workdir("first-call") as directory, model_process("text") as model_url:

        def one(pause: float) -> tuple[list[float], list[float]]:
            return serve_round(directory / f"round-{next(counter)}", model_url, pause)

        later, at_once = alternate(rounds, lambda: one(PAUSE), lambda: one(0.0))
        imports = median([import_seconds() for _ in range(rounds)])
    first, warm = [r[0][0] for r in later], [r[0][-1] for r in later]
    note = f"litellm's import, which the warm-up takes off the first call, takes {imports:.2f} s here"
    return [
        Row(
            NAME,
            f"first thread, launched {PAUSE:g} s after ready: launch -> done",
            median(first) * 1000,
            median(warm) * 1000,
            "ms",
            target=("<=", 1.5),
            baseline_name=f"thread {THREADS}",
            note=note,
        ),
        Row(
            NAME,
            f"first thread, launched {PAUSE:g} s after ready: the model call alone",
            median([r[1][0] for r in later]) * 1000,
            median([r[1][-1] for r in later]) * 1000,
            "ms",
            baseline_name=f"call {THREADS}",
        ),
        Row(
            NAME,
            "first thread, launched as soon as /healthz answers: launch -> done",
            median([r[0][0] for r in at_once]) * 1000,
            median([r[0][-1] for r in at_once]) * 1000,
            "ms",
            baseline_name=f"thread {THREADS}",
        ),
    ]


if __name__ == "__main__":
    print(table(run(smoke="--smoke" in sys.argv)))
