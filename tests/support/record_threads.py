"""Record real threads as fixtures, so later changes are checked against the threads of today.

    python -m tests.support.record_threads            # writes tests/fixtures/threads/*.json

Runs a real `signoff serve` (SQLite, scripted model) through one scenario per kind of thread an
installation holds (approved, denied, waiting, questions, model errors, bad tool calls, the step
cap, a tool's failure, a fatal model error), then writes each thread as stored: its events and the
state stored beside them (status, requests). `tests/fault/test_recorded_threads_replay.py` replays
them through the current reducer. Re-record only when a change is meant to alter how new threads
look; old fixtures stay, as old installations keep their threads.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from sqlmodel import col, select

from agent.events import parse_event
from agent.reducer import next_step
from bot.example_agent import agent as example_agent
from storage.db import Database
from storage.models import EventRow, RequestRow, ThreadRow
from tests.support.crash import CrashableSignoff
from tests.support.fake_model import FakeModelServer, Response, http_error, raw_tool_call, text, tool_call
from tests.support.signoff_process import wait_until

OUT = Path(__file__).parents[1] / "fixtures" / "threads"
APPROVER = "alice@example.com"


def model(body: dict[str, Any]) -> Response:
    content = body["messages"][-1]["content"]
    name = re.search(r"rec (\S+):", content).group(1)  # type: ignore[union-attr]
    results = re.findall(r'<tool_result id="[^"]*" tool="(\w+)">', content)
    errors = content.count("<error ")
    answered = "<question_answered" in content
    decided = re.search(r"<approval_(granted|denied)", content)
    if name in ("approved-restart", "denied-deploy", "waiting-approval"):
        if decided:
            return text("Restarted payments." if decided.group(1) == "granted" else "Understood, no deploy today.")
        if "service_status" not in results:
            return tool_call("service_status", {"name": "payments"})
        if name == "denied-deploy":
            return tool_call("deploy", {"service": "web", "version": "4.0.0", "reason": "new release"})
        return tool_call("restart_service", {"name": "payments", "reason": "payments worker is stuck"})
    if name in ("question-answered", "question-waiting"):
        if answered:
            return text("Deploying 3.7.1 then, once approved.")
        return tool_call("ask_human", {"question": "Which version of web?", "options": ["3.7.1", "4.0.0"]})
    if name == "model-errors-escalate":
        return text("Working again: search is fine.") if answered else http_error(500, "upstream exploded")
    if name == "bad-tool-calls":
        script = [
            lambda: tool_call("service_status", {"name": 42}),
            lambda: raw_tool_call("service_status", '{"name": "search"'),
            lambda: tool_call("service_status", {"name": "search"}),
            lambda: tool_call("drop_database", {}),
            lambda: text("search is fine."),
        ]
        return script[min(len(results) + errors, len(script) - 1)]()
    if name == "step-cap":
        return text("Stopping, as asked.") if answered else tool_call("list_services", {})
    if name == "tool-error":
        return text("There is no service db.") if errors else tool_call("service_status", {"name": "db"})
    if name == "fatal-model-error":
        return http_error(401, "invalid api key")
    raise AssertionError(name)


SCENARIOS: dict[str, str] = {  # name -> the status it ends in
    "approved-restart": "done",
    "denied-deploy": "done",
    "waiting-approval": "waiting",
    "question-answered": "done",
    "question-waiting": "waiting",
    "model-errors-escalate": "done",
    "bad-tool-calls": "done",
    "step-cap": "done",
    "tool-error": "done",
    "fatal-model-error": "failed",
}


def record(out: Path = OUT) -> list[Path]:
    workdir = Path(tempfile.mkdtemp(prefix="signoff-record-"))
    url = f"sqlite:///{workdir / 'signoff.db'}"
    with FakeModelServer(default=model) as fake:
        server = CrashableSignoff(
            {
                "SIGNOFF_DATABASE_URL": url,
                "SIGNOFF_MODEL": "openai/fake",
                "SIGNOFF_MODEL_API_BASE": fake.url,
                "SIGNOFF_MODEL_API_KEY": "x",
                "SIGNOFF_MODEL_MAX_ATTEMPTS": "1",
                "SIGNOFF_APPROVERS": APPROVER,
            },
            workdir,
        ).start()
        try:
            with server.client() as api:
                ids = {
                    name: api.post(
                        "/api/threads", json={"message": f"rec {name}: please help", "by": "bob@example.com"}
                    ).json()["id"]
                    for name in SCENARIOS
                }

                def settle() -> bool:
                    settled = True
                    for name, thread_id in ids.items():
                        thread = api.get(f"/api/threads/{thread_id}").json()
                        pending = [
                            r
                            for r in api.get("/api/requests", params={"status": "pending"}).json()["requests"]
                            if r["thread_id"] == thread_id
                        ]
                        for request in pending:
                            if name in ("waiting-approval", "question-waiting"):
                                continue
                            settled = False
                            if request["kind"] == "approval":
                                decision = "deny" if name == "denied-deploy" else "approve"
                                api.post(
                                    f"/api/requests/{request['id']}/decision",
                                    json={
                                        "decision": decision,
                                        "by": APPROVER,
                                        "comment": "code freeze" if decision == "deny" else "",
                                    },
                                )
                            else:
                                api.post(
                                    f"/api/requests/{request['id']}/answer",
                                    json={"answer": "3.7.1, and stop", "by": "bob@example.com"},
                                )
                        if thread["status"] != SCENARIOS[name]:
                            settled = False
                    return settled

                wait_until(settle, timeout=120, interval=0.2, message="every recorded scenario to settle")
        finally:
            server.stop()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    db = Database(url)
    written: list[Path] = []
    try:
        out.mkdir(parents=True, exist_ok=True)
        with db.session() as session:
            for name, thread_id in ids.items():
                thread = session.get_one(ThreadRow, thread_id)
                rows = session.exec(select(EventRow).where(EventRow.thread_id == thread_id).order_by(col(EventRow.seq)))
                events = [json.loads(r.data) for r in rows]
                requests = session.exec(select(RequestRow).where(RequestRow.thread_id == thread_id))
                step = next_step(example_agent, [parse_event(e) for e in events], lambda: "new")
                path = out / f"{name}.json"
                path.write_text(
                    json.dumps(
                        {
                            "name": name,
                            "recorded_at_commit": commit,
                            "agent": "bot.example_agent:agent",
                            "status": thread.status,
                            "requests": {r.id: r.status for r in requests},
                            "next_step": type(step).__name__,
                            "events": events,
                        },
                        indent=1,
                        sort_keys=True,
                    )
                    + "\n"
                )
                written.append(path)
    finally:
        db.dispose()
    return written


if __name__ == "__main__":
    for path in record(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT):
        print(path)
