"""Kill `signoff serve` for real, again and again, while an ops workload runs through its API.

- `CrashableSignoff`: a `SignoffProcess` started with crash points (`SIGNOFF_FAILPOINTS`, see
  `bot/failpoints.py`) that may die with SIGKILL at any moment, even before it is healthy.
- `OpsWorkload`: jobs "restart payments" / "deploy web 5.0.7" launched through the HTTP API with an
  Idempotency-Key; each thread checks the service, asks for approval, and the workload approves or
  denies as the job says. `ops_model` is the scripted model for it: it answers from what the thread
  shows, so a model call repeated after a crash gets the same answer.
- `run_with_kills`: drives the workload while killing the server (crash points or a timer) and
  restarting it, then lets a clean server finish. `verify` proves the outcome from the database.
"""

from __future__ import annotations

import random
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlmodel import col, select

from agent.events import parse_event
from bot.example_agent import agent as example_agent
from bot.example_agent.models import ServiceActionRow, ServiceRow
from storage.db import Database
from storage.models import EventRow, ThreadRow
from tests.support.fake_model import Response, text, tool_call
from tests.support.replay import database_problems
from tests.support.signoff_process import API_TOKEN, SignoffProcess

APPROVER = "alice@example.com"
CRASH_POINTS = ("after_inbound_recorded", "after_model_answer", "after_state_commit", "during_tool")
FAILPOINT_LINE = re.compile(r"failpoint (\w+) reached")

APPROVED_EVENTS = [
    "human_message",
    "tool_call",
    "tool_result",
    "approval_requested",
    "approval_decided",
    "tool_started",
    "tool_result",
    "agent_reply",
]
DENIED_EVENTS = APPROVED_EVENTS[:5] + ["agent_reply"]


RERUN_ASKED = ["tool_started", "tool_outcome_unknown", "approval_requested", "approval_decided"]


def without_retries(types: list[str]) -> list[str]:
    """The event types with the repeated starts of an idempotent call cut short and retried (the
    example's gated tools are idempotent) folded into one: a kill mid-tool adds a `tool_started`.
    A call cut short MAX_IDEMPOTENT_STARTS times is not retried by itself: its approvers are asked
    whether to run it again (the driver approves), and the rerun keeps the first call's effect key,
    so that detour folds away too; the effects are still counted one per job."""
    folded: list[str] = []
    for kind in types:
        if not (kind == "tool_started" and folded and folded[-1] == "tool_started"):
            folded.append(kind)
        if folded[-len(RERUN_ASKED) :] == RERUN_ASKED:
            del folded[-len(RERUN_ASKED) + 1 :]  # the first start stays; the rerun's start folds into it
    return folded


class CrashableSignoff(SignoffProcess):
    def start_with(self, failpoints: str = "", timeout: float = 60) -> bool:
        """Start with these crash points armed; False when it was killed before it became healthy."""
        if failpoints:
            self.env["SIGNOFF_FAILPOINTS"] = failpoints
        else:
            self.env.pop("SIGNOFF_FAILPOINTS", None)
        try:
            self.start(timeout)
        except RuntimeError:
            if self.proc is not None and self.proc.returncode == -9:
                return False
            raise
        return True

    def client(self, token: str = API_TOKEN) -> httpx.Client:
        # Generous: on a loaded machine the first model call's litellm import can stall the API for seconds.
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {token}"}, timeout=60)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def death(self) -> str:
        """How the last run ended: the crash point it reached, or "timer" (killed from outside)."""
        assert self.proc is not None and self.proc.returncode is not None
        if self.proc.returncode != -9:
            raise AssertionError(
                f"signoff serve exited with {self.proc.returncode}, not SIGKILL:\n{self.log_path.read_text()[-4000:]}"
            )
        found = FAILPOINT_LINE.findall(self.log_path.read_text(errors="replace"))
        return found[-1] if found else "timer"


# --- the workload -------------------------------------------------------------------------------

JOB_TEXT = re.compile(r"job (\S+): (restart|deploy) (\w+)(?: (\S+))?")


@dataclass
class Job:
    key: str
    action: str  # restart | deploy
    service: str
    version: str
    approve: bool
    thread_id: str | None = None
    status: str = ""

    @property
    def message(self) -> str:
        tail = f" {self.version}" if self.action == "deploy" else ""
        return f"job {self.key}: {self.action} {self.service}{tail}"


def ops_model(body: dict[str, Any]) -> Response:
    """The model's answer to a workload thread, from what the thread shows so far."""
    content = body["messages"][-1]["content"]
    found = JOB_TEXT.search(content)
    if found is None:
        return text("I do not understand this thread.")
    key, action, service, version = found.groups()
    if re.search(r'<tool_result id="[^"]*" tool="(restart_service|deploy)">', content):
        return text(f"job {key}: {action} of {service} done.")
    if "<approval_denied " in content:
        return text(f"job {key}: understood, I did not {action} {service}.")
    if re.search(r'<tool_result id="[^"]*" tool="service_status">', content):
        if action == "restart":
            return tool_call("restart_service", {"name": service, "reason": f"job {key}"})
        return tool_call("deploy", {"service": service, "version": version, "reason": f"job {key}"})
    return tool_call("service_status", {"name": service})


class OpsWorkload:
    def __init__(self, prefix: str, rng: random.Random) -> None:
        self.prefix = prefix
        self.rng = rng
        self.jobs: list[Job] = []
        self.decision_conflicts = 0  # decisions answered 409: another replica or a retry was first

    def add(self, n: int) -> None:
        for _ in range(n):
            i = len(self.jobs)
            action = self.rng.choice(["restart", "deploy"])
            service = self.rng.choice(["payments", "search", "web"])
            self.jobs.append(Job(f"{self.prefix}{i}", action, service, f"5.0.{i}", approve=self.rng.random() < 0.75))

    @property
    def unfinished(self) -> int:
        return sum(1 for j in self.jobs if j.status != "done")

    def drive(self, apis: list[httpx.Client]) -> None:
        """One round: launch what is not launched, decide what waits. Raises httpx errors if a server is down."""
        for job in self.jobs:
            if job.thread_id is None:
                api = self.rng.choice(apis)
                response = api.post(
                    "/api/threads",
                    json={"message": job.message, "by": "bob@example.com"},
                    headers={"Idempotency-Key": job.key},
                )
                assert response.status_code in (200, 201), response.text
                job.thread_id = response.json()["id"]
        by_thread = {j.thread_id: j for j in self.jobs}
        threads = self.rng.choice(apis).get("/api/threads", params={"limit": 1000})
        assert threads.status_code == 200, threads.text
        for thread in threads.json()["threads"]:
            if thread["id"] in by_thread:
                by_thread[thread["id"]].status = thread["status"]
        pending = self.rng.choice(apis).get("/api/requests", params={"status": "pending", "limit": 1000})
        assert pending.status_code == 200, pending.text
        for request in pending.json()["requests"]:
            waiting = by_thread.get(request["thread_id"])
            if waiting is None:
                continue
            assert request["kind"] == "approval", f"job {waiting.key} asks a question: {request}"
            self.decide(waiting, request["id"], apis)

    def decide(self, job: Job, request_id: str, apis: list[httpx.Client]) -> None:
        decision = {"decision": "approve" if job.approve else "deny", "by": APPROVER}
        response = self.rng.choice(apis).post(f"/api/requests/{request_id}/decision", json=decision)
        if response.status_code == 409:
            self.decision_conflicts += 1
            expected = "approved" if job.approve else "denied"
            assert f"already {expected} by {APPROVER}" in response.json()["detail"], response.text
        else:
            assert response.status_code == 200, response.text

    @property
    def all_done(self) -> bool:
        """As of the last round."""
        return all(j.status == "done" for j in self.jobs)


# --- killing -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class KillPlan:
    """How one run of the server is to die.

    `failpoints`: crash points armed for the run (e.g. "during_tool=2"). `timer`: seconds after which
    it is SIGKILLed from outside if still alive, counted from when it became healthy, or with
    `after_model` from its first model request (so the kill lands while threads are worked on).
    """

    failpoints: str = ""
    timer: float | None = None
    after_model: bool = False


@dataclass
class KillLog:
    kills: list[str] = field(default_factory=list)  # how each run ended: a crash point or "timer"
    starts: int = 0
    runs: list[tuple[float, float]] = field(default_factory=list)  # (seconds to healthy, seconds alive after)

    @property
    def by_point(self) -> dict[str, int]:
        return dict(Counter(self.kills))


def run_with_kills(
    server: CrashableSignoff,
    workload: OpsWorkload,
    plans: Iterable[KillPlan],
    *,
    keep_busy: int = 0,
    model_requests: Callable[[], int] = lambda: 0,
    timeout: float = 600,
) -> KillLog:
    """Run the workload while killing the server as each plan says, then finish with a clean server.

    `keep_busy` adds jobs while plans remain so that each run has work to be killed in.
    """
    log = KillLog()
    pending_plans = iter(plans)
    plan: KillPlan | None = next(pending_plans, None)
    deadline = time.monotonic() + timeout
    kill_at: float | None = None
    requests_at_start = 0
    healthy_at = healthy_after = 0.0
    running = False
    while True:
        if time.monotonic() > deadline:
            raise AssertionError(
                f"workload unfinished after {timeout}s; kills so far {log.by_point}\n" + _stuck(workload)
            )
        if running and not server.alive():
            running = False
            log.kills.append(server.death())
            log.runs.append((healthy_after, time.monotonic() - healthy_at))
            plan = next(pending_plans, None)
        if not running:
            log.starts += 1
            started = time.monotonic()
            if not server.start_with(plan.failpoints if plan else ""):
                log.kills.append(server.death())
                log.runs.append((time.monotonic() - started, 0.0))
                plan = next(pending_plans, None)
                continue
            healthy_at = time.monotonic()
            healthy_after = healthy_at - started
            running = True
            kill_at = None
            requests_at_start = model_requests()
        if plan is not None and keep_busy and workload.unfinished < keep_busy:
            workload.add(keep_busy - workload.unfinished)
        with server.client() as api:
            try:
                workload.drive([api])
                if plan is None and workload.all_done:
                    return log
            except httpx.TransportError:
                pass
        if kill_at is None and plan is not None and plan.timer is not None:
            if not plan.after_model:
                kill_at = healthy_at + plan.timer
            elif model_requests() > requests_at_start:
                kill_at = time.monotonic() + plan.timer
        if kill_at is not None and time.monotonic() >= kill_at:
            kill_at = None
            server.kill()  # recorded at the top of the loop, with the crash point if it got there first
            continue
        time.sleep(0.1)  # ok: polling with a deadline (gently: the server shares the CPU)


def random_plans(rng: random.Random, kills: int) -> list[KillPlan]:
    """`kills` runs, each ended by one of: a random crash point at a random pass (with a timer in
    case the point is not reached soon), a timer at a random moment after the server became
    healthy (start-up, recovery, the first model call), or one at a random moment of the work."""
    plans: list[KillPlan] = []
    for _ in range(kills):
        kind = rng.choice(["point", "point", "timer", "timer-in-work"])
        if kind == "point":
            plans.append(KillPlan(f"{rng.choice(CRASH_POINTS)}={rng.randint(1, 3)}", 20.0, after_model=True))
        elif kind == "timer":
            plans.append(KillPlan(timer=rng.uniform(0.0, 4.0)))
        else:
            plans.append(KillPlan(timer=rng.uniform(0.0, 2.0), after_model=True))
    return plans


def _stuck(workload: OpsWorkload) -> str:
    return "\n".join(f"  {j.key}: thread {j.thread_id} {j.status}" for j in workload.jobs if j.status != "done")


# --- verification --------------------------------------------------------------------------------


@dataclass
class Outcome:
    launched: int
    completed: int
    approved: int
    effects: int
    duplicates: int
    losses: int
    problems: list[str]

    def row(self) -> str:
        return (
            f"launched={self.launched} completed={self.completed} approved={self.approved} "
            f"effects={self.effects} duplicates={self.duplicates} losses={self.losses}"
        )


def verify(db: Database, workload: OpsWorkload) -> Outcome:
    """Every job's thread ended as a sequential run would; every approved effect happened once."""
    problems: list[str] = []
    jobs = {j.thread_id: j for j in workload.jobs}
    with db.session() as session:
        threads = {t.id: t for t in session.exec(select(ThreadRow))}
        actions = list(session.exec(select(ServiceActionRow)))
        services = {s.name: s for s in session.exec(select(ServiceRow))}
        events = {
            thread_id: [
                parse_event(r.data)
                for r in session.exec(
                    select(EventRow).where(EventRow.thread_id == thread_id).order_by(col(EventRow.seq))
                )
            ]
            for thread_id in threads
        }
    extra_threads = set(threads) - set(jobs)
    duplicates = len(extra_threads)
    problems += [f"thread {t} belongs to no job (a launch recorded twice?)" for t in extra_threads]

    actions_by_thread: dict[str, list[ServiceActionRow]] = {}
    for action in actions:
        actions_by_thread.setdefault(action.thread_id, []).append(action)
    losses = completed = 0
    for thread_id, job in jobs.items():
        thread = threads.get(thread_id or "")
        if thread is None:
            problems.append(f"job {job.key}: its thread {thread_id} is gone")
            losses += 1
            continue
        types = without_retries([e.type for e in events[thread.id]])
        expected = APPROVED_EVENTS if job.approve else DENIED_EVENTS
        if thread.status == "done":
            completed += 1
        else:
            losses += 1
        if types != expected:
            problems.append(f"job {job.key}: events {types}, expected {expected}")
            duplicates += max(0, len(types) - len(expected))
        done = actions_by_thread.get(thread.id, [])
        if job.approve:
            request = next((e for e in events[thread.id] if e.type == "approval_requested"), None)
            if len(done) != 1:
                problems.append(f"job {job.key}: {len(done)} effects, expected 1")
                duplicates += max(0, len(done) - 1)
                losses += 1 if not done else 0
            elif request is None or done[0].call_id != request.call_id or done[0].approved_by != APPROVER:
                problems.append(f"job {job.key}: effect {done[0]} does not match the approval {request}")
            elif (done[0].action, done[0].service) != (job.action, job.service):
                problems.append(f"job {job.key}: did {done[0].action} {done[0].service}")
        elif done:
            problems.append(f"job {job.key} was denied but {len(done)} effect(s) happened")
            duplicates += len(done)
    for name, service in services.items():
        restarts = sum(1 for a in actions if a.action == "restart" and a.service == name)
        if service.restarts != restarts:
            problems.append(f"service {name}: restart counter {service.restarts}, restart actions {restarts}")
    for thread_id, found in database_problems(db, example_agent).items():
        problems += [f"thread {thread_id}: {p}" for p in found]
    return Outcome(
        launched=len(jobs),
        completed=completed,
        approved=sum(1 for j in workload.jobs if j.approve),
        effects=len(actions),
        duplicates=duplicates,
        losses=losses,
        problems=problems,
    )


def unapproved_effects(db: Database) -> list[str]:
    """Effects in the inventory without a recorded human approval of exactly that call."""
    from agent.events import ApprovalDecided, ApprovalRequested
    from agent.thread import arguments_digest

    found: list[str] = []
    with db.session() as session:
        for action in session.exec(select(ServiceActionRow)):
            rows = session.exec(
                select(EventRow).where(EventRow.thread_id == action.thread_id).order_by(col(EventRow.seq))
            )
            events = [parse_event(r.data) for r in rows]
            request = next(
                (e for e in events if isinstance(e, ApprovalRequested) and e.call_id == action.call_id), None
            )
            decision = next(
                (
                    e
                    for e in events
                    if request is not None
                    and isinstance(e, ApprovalDecided)
                    and e.request_id == request.request_id
                    and e.approved
                ),
                None,
            )
            if request is None or decision is None:
                found.append(f"{action.action} {action.service} (call {action.call_id}) has no recorded approval")
            elif decision.by != action.approved_by or decision.digest not in ("", request.digest):
                found.append(f"{action.action} {action.service}: approved by {decision.by} for another digest")
            elif action.service not in (request.arguments.get("name"), request.arguments.get("service")):
                found.append(f"{action.action} {action.service}: the approval was for {request.arguments}")
            elif request.digest != arguments_digest(request.tool, dict(request.arguments)):
                found.append(f"{action.action} {action.service}: its request's digest does not match its arguments")
    return found


def report(name: str, log: KillLog, outcome: Outcome, **extra: Any) -> str:
    details = " ".join(f"{k}={v}" for k, v in extra.items())
    return f"[{name}] kills={len(log.kills)} {log.by_point} starts={log.starts} {outcome.row()} {details}".strip()
