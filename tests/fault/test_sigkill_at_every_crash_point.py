"""Case 1 (API path): `signoff serve` SIGKILLed at each crash point, restarted, until every thread ends.

Each run arms one crash point (`SIGNOFF_FAILPOINTS`, bot/failpoints.py) and dies there for real;
the next run starts on the same SQLite file. Then, from the database: every thread ended as it
would have without the kills, every approved effect happened exactly once (the inventory's actions,
keyed by call id, and its restart counters), nothing ran unapproved, every thread replays.
"""

from __future__ import annotations

import os
import random

import pytest

from storage.db import Database
from tests.fault.conftest import record
from tests.support.crash import (
    CRASH_POINTS,
    CrashableSignoff,
    KillPlan,
    OpsWorkload,
    random_plans,
    report,
    run_with_kills,
    verify,
)
from tests.support.fake_model import FakeModelServer

SOAK_KILLS = int(os.environ.get("SIGNOFF_FAULT_KILLS", "8"))
SOAK_TIMEOUT = max(270, SOAK_KILLS * 15)


def test_every_crash_point_and_nothing_lost_or_doubled(crash_server: CrashableSignoff, sqlite_url: str) -> None:
    workload = OpsWorkload("p", random.Random(6))
    plans = [KillPlan(f"{point}=1") for point in CRASH_POINTS]
    log = run_with_kills(crash_server, workload, plans, keep_busy=3, timeout=180)

    assert log.kills == list(CRASH_POINTS), "each run must die at the crash point it armed"
    assert log.starts == len(CRASH_POINTS) + 1
    db = Database(sqlite_url)
    try:
        outcome = verify(db, workload)
    finally:
        db.dispose()
    record(report("crash points", log, outcome))
    assert outcome.problems == []
    assert outcome.completed == outcome.launched and outcome.duplicates == outcome.losses == 0
    assert outcome.effects == outcome.approved > 0


@pytest.mark.timeout(SOAK_TIMEOUT + 60)
def test_random_kills_while_threads_run_to_approval_and_completion(
    crash_server: CrashableSignoff, ops_model_server: FakeModelServer, sqlite_url: str, rng: random.Random
) -> None:
    """SIGNOFF_FAULT_KILLS (default 8 in CI; 200 for the full run) random SIGKILLs: at a random
    crash point and pass, or at a random moment (see `random_plans`)."""
    workload = OpsWorkload("r", rng)
    log = run_with_kills(
        crash_server,
        workload,
        random_plans(rng, SOAK_KILLS),
        keep_busy=4,
        model_requests=lambda: len(ops_model_server.requests),
        timeout=SOAK_TIMEOUT,
    )

    assert len(log.kills) == SOAK_KILLS and log.starts == SOAK_KILLS + 1
    db = Database(sqlite_url)
    try:
        outcome = verify(db, workload)
    finally:
        db.dispose()
    record(report("random kills", log, outcome))
    print("runs (s to healthy, s alive):", [(round(a, 1), round(b, 1)) for a, b in log.runs])
    assert outcome.problems == []
    assert outcome.launched == outcome.completed
    assert outcome.effects == outcome.approved
    assert outcome.duplicates == outcome.losses == 0
