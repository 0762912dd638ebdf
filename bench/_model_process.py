"""The scripted OpenAI-compatible model (tests/support/fake_model.py) in a process of its own.

Run by the benchmarks so the model's CPU is never charged to either side being compared:
`python -m bench._model_process BEHAVIOUR [LATENCY]` prints the base URL and serves until stdin
closes. Behaviours answer from the request alone (endless, zero latency unless given):

- `approve-once`: call the gated tool `act` until a tool result is in the context, then answer.
- `lookups-N`: call `lookup` until N tool results are in the context, then answer.
- `text`: always answer with text.
- `slow-tool`: call the blocking tool `slow_check` once, then answer.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


def tool_results(body: dict[str, Any]) -> int:
    """Tool results in a request: Signoff's tagged context, or chat messages with role `tool`."""
    messages = body.get("messages", [])
    chat = sum(1 for m in messages if m.get("role") == "tool")
    tagged = sum(str(m.get("content") or "").count("<tool_result ") for m in messages if m.get("role") == "user")
    return chat + tagged


def responder(behaviour: str) -> Any:
    from tests.support.fake_model import text, tool_call

    if behaviour == "approve-once":
        return lambda body: text("Done.") if tool_results(body) else tool_call("act", {"n": 1, "reason": "bench"})
    if behaviour.startswith("lookups-"):
        limit = int(behaviour.split("-", 1)[1])
        return lambda body: text("Done.") if tool_results(body) >= limit else tool_call("lookup", {"key": "k"})
    if behaviour == "slow-tool":
        return lambda body: text("Done.") if tool_results(body) else tool_call("slow_check", {"name": "db"})
    if behaviour == "text":
        return lambda body: text("Done.")
    raise SystemExit(f"unknown behaviour {behaviour!r}")


def main() -> None:
    from tests.support.fake_model import FakeModelServer

    behaviour = sys.argv[1]
    latency = float(sys.argv[2]) if len(sys.argv) > 2 else 0.0
    with FakeModelServer(latency=latency, default=responder(behaviour)) as server:
        print(json.dumps({"url": server.url}), flush=True)
        sys.stdin.read()


@contextmanager
def model_process(behaviour: str, latency: float = 0.0) -> Iterator[str]:
    """Start the model in its own process; yields its base URL."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench._model_process", behaviour, str(latency)],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError("the model process did not start")
        yield json.loads(line)["url"]
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


if __name__ == "__main__":
    main()
