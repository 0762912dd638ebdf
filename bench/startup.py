"""7. Startup and memory: `signoff serve` to its first healthy /healthz, idle RSS, RSS after a model call.

Ours: `python -m bot serve` (what the `signoff` script runs) on an existing SQLite database (a
restart, the common case; the first start also applies the migrations, reported in the note), no
channel configured, the scripted model in its own process. Ready = from spawning the process to the
first 200 from /healthz (polled every 5 ms). Idle RSS: one second after that. Then one thread is
launched through the API; RSS once it is done (the first model call imports litellm).

Baseline, same run, alternating: a fresh interpreter that imports every one of Signoff's own
dependencies (pyproject's `dependencies`), from spawn to exit, and its RSS after the imports.

Run: python -m bench.startup [--smoke]
"""

from __future__ import annotations

import importlib.metadata
import json
import math
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx

from bench._common import REPO, Row, alternate, median, rss_bytes, serve_env, signoff_process, table, workdir
from bench._model_process import model_process

NAME = "7 startup"
MB = 1024 * 1024


def dependency_modules() -> list[str]:
    """The importable top-level modules of the product's declared dependencies."""
    try:
        import tomllib

        declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    except (OSError, KeyError):
        declared = importlib.metadata.requires("signoff") or []
    wanted = {re.split(r"[\s<>=!~;\[]", d, maxsplit=1)[0].lower().replace("_", "-") for d in declared}
    modules = set()
    for module, dists in importlib.metadata.packages_distributions().items():
        if module.startswith("_") or module in NOT_IMPORTED:
            continue
        if any(d.lower().replace("_", "-") in wanted for d in dists):
            modules.add(module)
    return sorted(modules)


# Shipped by the dependencies but never imported by a program using them: a CLI, a deprecated alias.
NOT_IMPORTED = {"litellm_cli", "slack"}

IMPORT_ALL = """
import os, sys, json
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
for name in json.loads(sys.argv[1]):
    __import__(name)
rss = [int(l.split()[1]) * 1024 for l in open("/proc/self/status") if l.startswith("VmRSS:")][0]
print(rss)
"""


def import_dependencies(modules: list[str]) -> tuple[float, int]:
    started = time.monotonic()
    out = subprocess.run(
        [sys.executable, "-c", IMPORT_ALL, json.dumps(modules)], capture_output=True, text=True, check=True
    )
    return time.monotonic() - started, int(out.stdout.split()[-1])


def serve_once(directory: Path, model_url: str) -> tuple[float, int, int]:
    """(seconds to healthy, idle RSS, RSS after the first model call)."""
    process = signoff_process(
        serve_env(f"sqlite:///{directory / 'signoff.db'}", model_url, "bench.agents:agent"), directory
    )
    process.starts += 1
    log = open(process.log_path, "wb")  # noqa: SIM115 (closed below)
    started = time.monotonic()
    process.proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "serve"],
        env=process.env,
        cwd=directory,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        with httpx.Client(timeout=1) as client:
            while True:
                if process.proc.poll() is not None:
                    raise RuntimeError(f"signoff serve exited:\n{process.log_path.read_text()}")
                if time.monotonic() - started > 60:
                    raise TimeoutError("signoff serve not healthy after 60 s")
                try:
                    if client.get(f"{process.url}/healthz").status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.005)
        ready = time.monotonic() - started
        time.sleep(1.0)
        idle = rss_bytes(process.proc.pid)
        with process.client() as api:
            thread_id = api.post("/api/threads", json={"message": "hello", "by": "bob"}).json()["id"]
            deadline = time.monotonic() + 60
            while api.get(f"/api/threads/{thread_id}").json()["status"] != "done":
                if time.monotonic() > deadline:
                    raise TimeoutError("the first thread did not finish in 60 s")
                time.sleep(0.02)
        after_call = rss_bytes(process.proc.pid)
        return ready, idle, after_call
    finally:
        process.stop()
        log.close()


def run(smoke: bool = False) -> list[Row]:
    rounds = 1 if smoke else 3
    modules = dependency_modules()
    with workdir("startup") as directory, model_process("text") as model_url:
        # The first start creates and migrates the database (not measured in smoke mode).
        first_start = math.nan if smoke else serve_once(directory, model_url)[0]
        baseline, ours = alternate(
            rounds, lambda: import_dependencies(modules), lambda: serve_once(directory, model_url)
        )
    import_time = median([b[0] for b in baseline])
    import_rss = median([b[1] for b in baseline]) / MB
    ready = median([o[0] for o in ours])
    idle = median([o[1] for o in ours]) / MB
    after = median([o[2] for o in ours]) / MB
    base = "importing the dependencies"
    return [
        Row(
            NAME,
            "serve -> first healthy /healthz",
            ready,
            import_time,
            "s",
            target=("<=", 0.3),
            baseline_name=base,
            note="" if smoke else f"first start on a new database (migrations included): {first_start:.2f} s",
        ),
        Row(NAME, "idle RSS", idle, import_rss, "MB", target=("<=", 0.6), baseline_name=base),
        Row(NAME, "RSS after the first model call", after, import_rss, "MB", baseline_name=base),
    ]


if __name__ == "__main__":
    print(table(run(smoke="--smoke" in sys.argv)))
