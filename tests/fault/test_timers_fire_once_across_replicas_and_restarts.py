"""The clock's promises under faults, with a test clock moved forward (never a sleep): two replicas
on one PostgreSQL fire each timer of each request once (a reminder, an escalation, an expiry per
thread, never two), and a server SIGKILLed before its timers came due fires them at its next start,
once, the late reminder superseded by an expiry due as well."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from storage.store import Store
from tests.support.clock_agent import agent as clock_agent
from tests.support.clock_file import ClockFile
from tests.support.fake_model import FakeModelServer, Response, text, tool_call
from tests.support.people import directory
from tests.support.replay import database_problems
from tests.support.signoff_process import SignoffProcess, wait_until

THREADS = 6
BOB = "bob@corp.example"


def oncall(body: dict[str, Any]) -> Response:
    content = body["messages"][-1]["content"]
    if "<request_expired " in content:
        return text("Nobody approved in time; nothing was restarted.")
    if '<tool_result id="' in content:
        return text("Done.")
    return tool_call("restart_service", {"name": "payments", "reason": "asked"})


def serve(url: str, model: FakeModelServer, workdir: Path, clock: ClockFile) -> SignoffProcess:
    workdir.mkdir(exist_ok=True)
    env = {"SIGNOFF_DATABASE_URL": url, **model.settings(), "SIGNOFF_APPROVERS": "alice", **clock.settings()}
    return SignoffProcess(env, workdir)


def counts(store: Store, thread_id: str) -> Counter[str]:
    return Counter(e.type for e in store.snapshot(thread_id).events)


def status(store: Store, thread_id: str) -> str:
    thread = store.get_thread(thread_id)
    return thread.status if thread is not None else ""


def test_two_replicas_on_postgresql_fire_each_timer_once(database_url: str, tmp_path: Path) -> None:
    people = directory(database_url)
    clock = ClockFile(tmp_path)
    with FakeModelServer(default=oncall) as model:
        servers = [serve(database_url, model, tmp_path / name, clock) for name in ("a", "b")]
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(lambda s: s.start(60), servers))
        try:
            thread_ids = []
            for i in range(THREADS):
                with servers[i % 2].client() as api:
                    launched = api.post("/api/threads", json={"message": f"restart payments ({i})", "by": BOB})
                    assert launched.status_code == 201, launched.text
                    thread_ids.append(launched.json()["id"])
            store = people.store
            wait_until(lambda: len(store.list_requests(status="pending")) == THREADS, message="every request")

            for minutes, kind in ((11, "request_reminded"), (20, "request_escalated"), (30, "request_expired")):
                clock.advance(minutes=minutes)
                wait_until(
                    lambda kind=kind: all(counts(store, t)[kind] >= 1 for t in thread_ids),
                    timeout=60,
                    message=f"a {kind} on every thread",
                )
            for thread_id in thread_ids:
                wait_until(lambda t=thread_id: status(store, t) == "done", message="told")
                seen = counts(store, thread_id)
                assert (seen["request_reminded"], seen["request_escalated"], seen["request_expired"]) == (1, 1, 1)
                assert seen["tool_result"] == 0
                [request] = store.list_requests(thread_id=thread_id)
                assert [(t.kind, t.outcome) for t in store.timers_for(request.id)] == [
                    ("remind", "fired"),
                    ("escalate", "fired"),
                    ("expire", "fired"),
                ]
            assert database_problems(people.store.db, clock_agent) == {}  # every thread replays
        finally:
            for server in servers:
                server.stop()


def test_timers_due_while_the_server_was_down_fire_once_at_its_next_start(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'signoff.db'}"
    people = directory(url)
    clock = ClockFile(tmp_path)
    with FakeModelServer(default=oncall) as model:
        server = serve(url, model, tmp_path / "serve", clock).start()
        try:
            with server.client() as api:
                thread_id = api.post("/api/threads", json={"message": "restart payments", "by": BOB}).json()["id"]
            store = people.store
            [request] = wait_until(lambda: store.list_requests(status="pending"), message="the request")

            server.kill()  # SIGKILL, then the reminder's time passes while nothing runs
            clock.advance(minutes=11)
            server.start()
            wait_until(lambda: counts(store, thread_id)["request_reminded"] == 1, message="the late reminder")

            server.kill()  # and again: what fired before the kill never fires again
            clock.advance(minutes=50)  # the escalation's and the expiry's times pass while it is down
            server.start()
            wait_until(lambda: status(store, thread_id) == "done", message="expired and told")
            seen = counts(store, thread_id)
            assert (seen["request_reminded"], seen["request_escalated"], seen["request_expired"]) == (1, 0, 1)
            assert [(t.kind, t.outcome) for t in store.timers_for(request.id)] == [
                ("remind", "fired"),
                ("escalate", "superseded"),
                ("expire", "fired"),
            ]
            assert database_problems(people.store.db, clock_agent) == {}
            # The operator's audit lists what the clock did, filtered by type, as CSV.
            audit = subprocess.run(
                [sys.executable, "-m", "bot", "audit", "--type", "request_reminded,request_expired", "--format", "csv"],
                env={**server.env},
                cwd=tmp_path,
                capture_output=True,
                text=True,
                timeout=60,
                check=True,
            )
            rows = list(csv.DictReader(io.StringIO(audit.stdout)))
            assert [(r["type"], r["request_id"], r["outcome"]) for r in rows] == [
                ("request_reminded", request.id, "reminded alice, carol"),
                ("request_expired", request.id, "expired"),
            ]
            assert store.snapshot(thread_id).events[-1].text == "Nobody approved in time; nothing was restarted."  # type: ignore[union-attr]
        finally:
            server.stop()
