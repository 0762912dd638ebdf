"""Case 6: a step that raises outside the model and tool calls (here: an agent that re-reads its
prompt file at every step, and an operator saves it with a typo) is not retried silently poll after
poll. Each failure is an `error` event; after 3 in a row the thread's humans are asked and nothing
more happens until they answer; once the prompt is fixed, the answer lets the thread finish."""

from __future__ import annotations

import os
import time
from pathlib import Path

from tests.fault.conftest import record
from tests.support.databases import postgres_available, postgres_database
from tests.support.fake_model import FakeModelServer, text, tool_call
from tests.support.signoff_process import SignoffProcess, wait_until
from tests.support.skips import skip_or_fail

HOT_AGENT = """\
import os
from pathlib import Path
from agent import Agent


class HotReloadingAgent(Agent):
    \"\"\"Reads its prompt file again at every step, so an edit applies without a restart.\"\"\"

    def system_prompt(self) -> str:
        self.prompt_template = Path(os.environ["HOT_PROMPT_FILE"]).read_text()
        return super().system_prompt()


agent = HotReloadingAgent("ops", prompt=Path(os.environ["HOT_PROMPT_FILE"]))


@agent.tool
def service_status(name: str) -> dict:
    \"\"\"Show a service's state.\"\"\"
    return {"name": name, "state": "running"}
"""
GOOD = 'You are {agent_name}. Answer as {"ok": true}.\n{tools}\n'
TYPO = 'You are {agent_name}. Answer as {"ok": true}.\nYou work for {agent}.\n{tools}\n'
POLL = 0.2


def test_a_step_that_raises_is_an_error_three_times_then_the_humans_are_asked(
    tmp_path: Path, model: FakeModelServer
) -> None:
    agent_dir = tmp_path / "user_agents"
    agent_dir.mkdir()
    (agent_dir / "hot_agent.py").write_text(HOT_AGENT)
    prompt = agent_dir / "prompt.txt"
    prompt.write_text(GOOD)
    process = SignoffProcess(
        {
            "SIGNOFF_DATABASE_URL": f"sqlite:///{tmp_path / 'signoff.db'}",
            **model.settings(),
            "SIGNOFF_AGENT": "hot_agent:agent",
            "SIGNOFF_POLL_INTERVAL": str(POLL),
            "HOT_PROMPT_FILE": str(prompt),
            "PYTHONPATH": os.pathsep.join([str(agent_dir), os.environ.get("PYTHONPATH", "")]),
        },
        tmp_path,
    ).start()
    try:
        # The worker process loads the agent after the ingress answers: the prompt changes once it has.
        wait_until(lambda: "worker 0 ready" in process.logs(), message="the worker process")
        prompt.write_text(TYPO)  # saved while the bot runs
        with process.client() as api:
            thread_id = api.post("/api/threads", json={"message": "how is search?", "by": "carol"}).json()["id"]
            parked = wait_until(
                lambda: (t := api.get(f"/api/threads/{thread_id}").json())["status"] == "waiting" and t,
                timeout=60,
                message="the thread to ask its humans",
            )
            events = parked["events"]
            assert [e["type"] for e in events] == ["human_message", "error", "error", "error", "question_asked"]
            errors = events[1:4]
            assert [e["consecutive"] for e in errors] == [1, 2, 3]
            assert all(e["source"] == "step" and not e["fatal"] for e in errors)
            assert all(
                "prompt of agent ops (inline text), line 2: unknown placeholder {agent}" in e["message"] for e in errors
            )
            question = events[-1]
            assert "3 errors in a row" in question["question"] and question["answerers"] == ["carol"]
            assert model.requests == [], "the model is never asked with a prompt that cannot render"

            # Parked: 25 polls later nothing more was tried or recorded.
            time.sleep(25 * POLL)  # ok: proving that nothing happens needs time to pass
            assert api.get(f"/api/threads/{thread_id}").json()["events"] == events
            failures_logged = process.logs().count("step failed; recorded as an error")
            assert failures_logged == 3

            prompt.write_text(GOOD)
            model.script(text("search is running."))
            answered = api.post(
                f"/api/requests/{question['request_id']}/answer", json={"answer": "fixed", "by": "carol"}
            )
            assert answered.status_code == 200, answered.text
            finished = wait_until(
                lambda: (t := api.get(f"/api/threads/{thread_id}").json())["status"] == "done" and t["events"],
                timeout=30,
                message="the thread to finish",
            )
    finally:
        process.stop()
    assert finished[: len(events)] == events
    assert [e["type"] for e in finished[len(events) :]] == ["question_answered", "agent_reply"]
    assert len(model.requests) == 1
    record(
        "[step failures] prompt saved with an unknown placeholder: 3 error events, 1 question, "
        f"0 model calls, {failures_logged} failure log lines in {25 * POLL:.0f} s parked; after the fix 1 model call, done"
    )


def test_events_the_database_refuses_become_an_error_then_the_humans_are_asked(
    tmp_path: Path, model: FakeModelServer
) -> None:
    """PostgreSQL refuses text with a NUL character; the model puts one in its question. The
    step fails when its events are stored, outside `advance`: an error event each time (the
    model sees it), a question after three, and the model is not called at every poll."""
    ok, reason = postgres_available()
    if not ok:
        skip_or_fail(reason)
    model.default = lambda _body: tool_call("ask_human", {"question": "Which service?\x00"})
    with postgres_database() as url:
        process = SignoffProcess(
            {
                "SIGNOFF_DATABASE_URL": url,
                **model.settings(),
                "SIGNOFF_APPROVERS": "alice@example.com",  # the example agent's gated tools need approvers to start
                "SIGNOFF_POLL_INTERVAL": str(POLL),
            },
            tmp_path,
        ).start()
        try:
            with process.client() as api:
                thread_id = api.post("/api/threads", json={"message": "status?", "by": "carol"}).json()["id"]
                parked = wait_until(
                    lambda: (t := api.get(f"/api/threads/{thread_id}").json())["status"] == "waiting" and t,
                    timeout=60,
                    message="the thread to ask its humans",
                )
                events = parked["events"]
                assert [e["type"] for e in events] == ["human_message", "error", "error", "error", "question_asked"]
                assert [e["consecutive"] for e in events[1:4]] == [1, 2, 3]
                assert all(e["source"] == "step" and "the step failed: DataError" in e["message"] for e in events[1:4])
                assert "3 errors in a row" in events[-1]["question"]
                assert len(model.requests) == 3
                time.sleep(25 * POLL)  # ok: proving that nothing happens needs time to pass
                assert api.get(f"/api/threads/{thread_id}").json()["events"] == events
                assert len(model.requests) == 3, "parked: the model is not asked again"
        finally:
            process.stop()
    record(
        "[step failures] PostgreSQL refuses the model's question (a NUL): 3 error events, 1 question, 3 model calls, parked"
    )
