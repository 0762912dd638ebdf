"""Case 2: two `signoff serve` on one PostgreSQL race for the same threads; the outcome is the one
a single process would have produced, one thread after another.

Both replicas start at once on a fresh database (so they also race to migrate it). Every job is
launched through both APIs at the same moment with the same Idempotency-Key, and every decision is
posted to both at the same moment. One replica is armed to die by SIGKILL in the middle of an
approved tool (after its effect, before its result); the other takes its threads over once their
leases lapse. From the database: one thread per job, each thread's events exactly those of a
sequential run and valid under the reducer, each approved effect exactly once, restart counters
equal to the restarts done.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from storage.db import Database
from tests.conftest import skip_or_fail
from tests.fault.conftest import crashable, record
from tests.support.crash import APPROVER, CrashableSignoff, KillLog, OpsWorkload, verify
from tests.support.databases import postgres_available, postgres_database
from tests.support.fake_model import FakeModelServer
from tests.support.signoff_process import wait_until

JOBS = 16


def both(
    servers: list[CrashableSignoff], call: Callable[[httpx.Client], httpx.Response]
) -> list[httpx.Response | None]:
    """The same request to every live replica at the same moment; None where a replica died first."""

    def one(server: CrashableSignoff) -> httpx.Response | None:
        with server.client() as api:
            try:
                return call(api)
            except httpx.TransportError:
                return None

    live = [s for s in servers if s.alive()]
    with ThreadPoolExecutor(len(live) or 1) as pool:
        return list(pool.map(one, live))


def test_two_replicas_racing_give_the_sequential_outcome(
    ops_model_server: FakeModelServer, tmp_path: Path, rng: random.Random
) -> None:
    ok, reason = postgres_available()
    if not ok:
        skip_or_fail(reason)
    with postgres_database() as url:
        env = {"SIGNOFF_LEASE_SECONDS": "3", "SIGNOFF_WORKERS": "4"}
        servers = []
        for name, failpoints in (("a", "during_tool=1"), ("b", "")):
            (tmp_path / name).mkdir()
            server = crashable(ops_model_server, url, tmp_path / name, **env)
            if failpoints:
                server.env["SIGNOFF_FAILPOINTS"] = failpoints
            servers.append(server)
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(lambda s: s.start(60), servers))
        a, b = servers
        try:
            workload = OpsWorkload("pg", rng)
            workload.add(JOBS)
            for i, job in enumerate(workload.jobs):
                job.approve = i % 4 != 3
            launches: Counter = Counter()
            for job in workload.jobs:
                answers = [
                    r
                    for r in both(
                        servers,
                        lambda api, job=job: api.post(
                            "/api/threads",
                            json={"message": job.message, "by": "bob@example.com"},
                            headers={"Idempotency-Key": job.key},
                        ),
                    )
                    if r is not None
                ]
                assert sorted(r.status_code for r in answers) in ([200, 201], [201]), [r.text for r in answers]
                assert len({r.json()["id"] for r in answers}) == 1, "one thread per job, whichever replica answered"
                job.thread_id = answers[0].json()["id"]
                launches[len(answers)] += 1

            decisions = conflicts = 0
            decided: set[str] = set()

            def progress() -> bool:
                nonlocal decisions, conflicts
                live = next(s for s in (b, a) if s.alive())
                with live.client() as api:
                    pending = api.get("/api/requests", params={"status": "pending", "limit": 1000}).json()["requests"]
                    statuses = {
                        t["id"]: t["status"] for t in api.get("/api/threads", params={"limit": 1000}).json()["threads"]
                    }
                by_thread = {j.thread_id: j for j in workload.jobs}
                for request in pending:
                    if request["id"] in decided:
                        continue
                    job = by_thread[request["thread_id"]]
                    body: dict[str, Any] = {"decision": "approve" if job.approve else "deny", "by": APPROVER}
                    replies = both(
                        servers,
                        lambda api, r=request, body=body: api.post(f"/api/requests/{r['id']}/decision", json=body),
                    )
                    codes = sorted(r.status_code for r in replies if r is not None)
                    if not codes:
                        continue  # the only live replica died meanwhile: ask again on the next round
                    assert codes.count(200) <= 1 and set(codes) <= {200, 409}, codes
                    # No 200 only when the replica that recorded the decision died before answering
                    # (replica a is killed mid-tool, which can be right after its decision commits).
                    assert 200 in codes or None in replies, codes
                    decisions += 1
                    conflicts += codes.count(409)
                    decided.add(request["id"])
                for job in workload.jobs:
                    job.status = statuses.get(job.thread_id or "", "")
                return workload.all_done

            wait_until(progress, timeout=180, interval=0.1, message="every job to finish on the two replicas")
        finally:
            for server in servers:
                server.stop()

        killed = not a.alive() and a.proc is not None and a.proc.returncode == -9
        assert killed and "failpoint during_tool reached" in a.logs(), "replica a should have died mid-tool"
        db = Database(url)
        try:
            outcome = verify(db, workload)
        finally:
            db.dispose()
        log = KillLog(kills=["during_tool"], starts=2)
        record(
            f"[two replicas, PostgreSQL] {outcome.row()} kills={len(log.kills)} "
            f"launches_answered_by_both={launches[2]} decisions={decisions} second_decisions_refused={conflicts}"
        )
        assert outcome.problems == []
        assert outcome.launched == outcome.completed == JOBS
        assert outcome.effects == outcome.approved
        assert outcome.duplicates == outcome.losses == 0
