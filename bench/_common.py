"""What every benchmark shares: result rows, statistics, the scripted model, a real `signoff serve`.

Every figure is printed as a ratio against a baseline measured in the same run, because this
machine is shared and noisy: absolute times drift, ratios of interleaved measurements much less.
Everything runs on loopback (127.0.0.1), bounded in count and time.
"""

from __future__ import annotations

import contextlib
import math
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")


@dataclass(frozen=True)
class Row:
    """One figure: ours against the baseline of the same run.

    `ratio` is ours / baseline. `target` says what the ratio (or, with `absolute`, the figure
    itself) must be: ("<=", 0.2) or (">=", 1.8).
    """

    bench: str
    figure: str
    ours: float
    baseline: float
    unit: str
    target: tuple[str, float] | None = None
    absolute: bool = False
    note: str = ""
    baseline_name: str = ""

    @property
    def ratio(self) -> float:
        return self.ours / self.baseline if self.baseline else math.inf

    @property
    def met(self) -> bool | None:
        if self.target is None:
            return None
        op, bound = self.target
        value = self.ours if self.absolute else self.ratio
        return value <= bound if op == "<=" else value >= bound

    def target_text(self) -> str:
        if self.target is None:
            return ""
        op, bound = self.target
        return f"{op} {bound:g} {self.unit}" if self.absolute else f"{op} {bound:g}x"


def fmt(value: float) -> str:
    if value == 0 or not math.isfinite(value):
        return str(value)
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}"


def table(rows: Sequence[Row]) -> str:
    head = ("benchmark", "figure", "ours", "baseline", "ratio", "target", "met")
    body = [
        (
            r.bench,
            r.figure,
            f"{fmt(r.ours)} {r.unit}",
            f"{fmt(r.baseline)} {r.unit}" + (f" ({r.baseline_name})" if r.baseline_name else ""),
            f"{r.ratio:.3g}x",
            r.target_text(),
            {True: "yes", False: "NO", None: ""}[r.met],
        )
        for r in rows
    ]
    widths = [max(len(str(x)) for x in col) for col in zip(head, *body, strict=True)]
    lines = ["  ".join(str(x).ljust(w) for x, w in zip(line, widths, strict=True)).rstrip() for line in [head, *body]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    notes = [f"  [{r.bench} / {r.figure}] {r.note}" for r in rows if r.note]
    return "\n".join(lines + (["", "notes:", *notes] if notes else []))


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100)."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else math.nan


def alternate(rounds: int, *measures: Callable[[], Any]) -> list[list[Any]]:
    """Run the measures in alternating rounds (A B A B ...); returns each one's results per round."""
    results: list[list[Any]] = [[] for _ in measures]
    for _ in range(rounds):
        for i, measure in enumerate(measures):
            results[i].append(measure())
    return results


@contextlib.contextmanager
def workdir(prefix: str) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix=f"signoff-bench-{prefix}-") as path:
        yield Path(path)


def wait_for(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.005) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}")


def serve_env(database_url: str, model_url: str, agent: str, **extra: str) -> dict[str, str]:
    """The environment of a benchmarked `signoff serve`: our agent module on PYTHONPATH."""
    path = os.environ.get("PYTHONPATH", "")
    return {
        "SIGNOFF_DATABASE_URL": database_url,
        "SIGNOFF_MODEL": "openai/fake",
        "SIGNOFF_MODEL_API_BASE": model_url,
        "SIGNOFF_MODEL_API_KEY": "x",
        "SIGNOFF_AGENT": agent,
        "SIGNOFF_APPROVERS": "alice@example.com",  # who the benchmarks approve as: a gated tool needs approvers
        "PYTHONPATH": f"{REPO}{os.pathsep}{path}" if path else str(REPO),
        **extra,
    }


def signoff_process(env: dict[str, str], directory: Path) -> Any:
    """A real `signoff serve` (tests/support/signoff_process.py), with the product's defaults."""
    from tests.support.signoff_process import SignoffProcess

    process = SignoffProcess(env, directory)
    # The test helper polls faster than the product's default and keeps the workers at its own
    # priority (tests wait on them); benchmarks run what users run: both as serve's defaults.
    process.env["SIGNOFF_POLL_INTERVAL"] = env.get("SIGNOFF_POLL_INTERVAL", "0.5")
    if "SIGNOFF_WORKER_NICE" in env:
        process.env["SIGNOFF_WORKER_NICE"] = env["SIGNOFF_WORKER_NICE"]
    else:
        process.env.pop("SIGNOFF_WORKER_NICE", None)
    return process


def model_calls(url: str) -> float:
    """Model calls a running `signoff serve` finished, from its /metrics."""
    import httpx

    metrics = httpx.get(f"{url}/metrics", timeout=10).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("signoff_steps_total{") and 'kind="CallModel"' in line
    )


def rss_bytes(pid: int) -> int:
    """Resident set size of a process, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def needs_langgraph() -> str | None:
    """None when LangGraph and its SQLite checkpointer are installed, else how to install them."""
    try:
        import langgraph.checkpoint.sqlite  # noqa: F401
        import langgraph.graph  # noqa: F401
    except ImportError:
        return "LangGraph is not installed: pip install -r bench/requirements.txt"
    return None
