"""A thread interrupted mid-step by a crash is picked up again when the process starts."""

from __future__ import annotations

from tests.support.fake_model import FakeModelServer, text
from tests.support.signoff_process import SignoffProcess, wait_until


def test_a_thread_killed_during_a_model_call_finishes_after_restart(
    signoff: SignoffProcess, model: FakeModelServer
) -> None:
    model.script(text("too late", delay=30), text("Here is the answer."))
    with signoff.client() as api:
        thread_id = api.post("/api/threads", json={"message": "what runs here?"}).json()["id"]
    model.wait_for_requests(1, timeout=40)
    signoff.kill()  # the process held the thread's lease while waiting for the model

    signoff.start()
    with signoff.client() as api:
        thread = wait_until(
            lambda: (t := api.get(f"/api/threads/{thread_id}").json())["status"] == "done" and t,
            message="the interrupted thread to finish",
        )
    assert [e["type"] for e in thread["events"]] == ["human_message", "agent_reply"]
    assert thread["events"][-1]["text"] == "Here is the answer."
    assert "took back 1 thread(s) from crashed processes" in signoff.logs()
