"""Fixtures of the fault suite: a `signoff serve` that may be SIGKILLed, driven by an ops workload."""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.support.crash import CrashableSignoff, ops_model
from tests.support.fake_model import FakeModelServer, Responder

REPORT_ENV = "SIGNOFF_FAULT_REPORT"


@pytest.fixture
def rng() -> random.Random:
    """Random, but reproducible: the seed is printed and SIGNOFF_FAULT_SEED replays it."""
    seed = int(os.environ.get("SIGNOFF_FAULT_SEED") or random.SystemRandom().randrange(1 << 32))
    print(f"SIGNOFF_FAULT_SEED={seed}")
    return random.Random(seed)


@pytest.fixture
def ops_model_server() -> Iterator[FakeModelServer]:
    with FakeModelServer(default=ops_model) as server:
        yield server


def crashable(model: FakeModelServer, database_url: str, workdir: Path, **env: str) -> CrashableSignoff:
    return CrashableSignoff(
        {
            "SIGNOFF_DATABASE_URL": database_url,
            "SIGNOFF_MODEL": "openai/fake",
            "SIGNOFF_MODEL_API_BASE": model.url,
            "SIGNOFF_MODEL_API_KEY": "x",
            "SIGNOFF_APPROVERS": "alice@example.com",
            "SIGNOFF_POLL_INTERVAL": "0.25",
            **env,
        },
        workdir,
    )


@pytest.fixture
def crash_server(ops_model_server: FakeModelServer, sqlite_url: str, tmp_path: Path) -> Iterator[CrashableSignoff]:
    server = crashable(ops_model_server, sqlite_url, tmp_path)
    yield server
    server.stop()


@contextmanager
def serving(responder: Responder, workdir: Path, **env: str) -> Iterator[tuple[CrashableSignoff, FakeModelServer, str]]:
    """A model answering with `responder`, and a `signoff serve` on SQLite under `workdir`, for a module."""
    url = f"sqlite:///{workdir / 'signoff.db'}"
    with FakeModelServer(default=responder) as model:
        server = crashable(model, url, workdir, **env)
        server.start()
        try:
            yield server, model, url
        finally:
            server.stop()


def record(line: str) -> None:
    """Print a figure, and append it to $SIGNOFF_FAULT_REPORT when set (docs/reliability.md is built from it)."""
    print(line)
    path = os.environ.get(REPORT_ENV)
    if path:
        with open(path, "a") as report:
            report.write(line + "\n")
