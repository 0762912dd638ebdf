"""The image: its size, and the time from `podman run` to the first 200 from /readyz.

Ours: `podman run -d --network host` of the image (SQLite on a fresh volume, so the first start
creates the schema; no channel, no model), from spawning `podman run` to the first 200 from
/readyz (polled every 20 ms); then the container is removed. Baseline, same run, alternating:
`python -m bot serve` on the host with a fresh SQLite file, the same settings, the same poll. The
difference is what the container adds: podman's setup, the volume, the image's interpreter.

Needs podman and the image (built as tests/container builds it, or `podman build --format docker
-t localhost/signoff:test .`). Not part of `run_all` (which runs without podman).

Run: python -m bench.container_start [--image localhost/signoff:test] [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

from bench._common import REPO
from tests.support.signoff_process import free_port


def ready(port: int, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.02)  # ok: polling with a deadline
    raise TimeoutError(f"nothing ready on port {port}")


def container_start(image: str) -> float:
    port, name = free_port(), f"signoff-bench-{uuid.uuid4().hex[:8]}"
    started = time.monotonic()
    subprocess.run(
        ["podman", "run", "-d", "--name", name, "--network", "host", "--no-healthcheck",
         f"--volume={name}:/var/lib/signoff", "--env=SIGNOFF_HOST=127.0.0.1", f"--env=SIGNOFF_PORT={port}",
         "--env=SIGNOFF_APPROVERS=alice@example.com", image],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    try:
        ready(port, started + 300)
        return time.monotonic() - started
    finally:
        subprocess.run(["podman", "rm", "--force", "--time", "0", name], capture_output=True, timeout=120)
        subprocess.run(["podman", "volume", "rm", "--force", name], capture_output=True, timeout=120)


def host_start() -> float:
    port = free_port()
    with tempfile.TemporaryDirectory() as work:
        env = {
            **os.environ,
            "SIGNOFF_ENV_FILE": "/dev/null",
            "SIGNOFF_HOST": "127.0.0.1",
            "SIGNOFF_PORT": str(port),
            "SIGNOFF_APPROVERS": "alice@example.com",
            "SIGNOFF_DATABASE_URL": f"sqlite:///{Path(work) / 'signoff.db'}",
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",
            "PYTHONPATH": str(REPO),
        }
        started = time.monotonic()
        proc = subprocess.Popen([sys.executable, "-m", "bot", "serve"], env=env, cwd=work,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        try:
            ready(port, started + 300)
            return time.monotonic() - started
        finally:
            proc.terminate()
            proc.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--image", default="localhost/signoff:test")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    size = subprocess.run(
        ["podman", "image", "inspect", "--format", "{{.Size}}", args.image], check=True, capture_output=True, text=True
    ).stdout.strip()
    ours, baseline = [], []
    for _ in range(args.rounds):
        ours.append(container_start(args.image))
        baseline.append(host_start())
    load = os.getloadavg()[0]
    print(f"image {args.image}: {int(size) / 1e6:.0f} MB")
    spread = f"min {min(ours):.2f}, max {max(ours):.2f}"
    print(f"podman run -> /readyz 200: median {statistics.median(ours):.2f} s ({spread})")
    print(f"python -m bot serve on the host: median {statistics.median(baseline):.2f} s (min {min(baseline):.2f})")
    print(f"ratio {statistics.median(ours) / statistics.median(baseline):.2f}x; {args.rounds} rounds; load {load:.1f}")


if __name__ == "__main__":
    main()
