"""A note the model never sees (here a failed delivery, as the outbox records one) appended while a
model call is out does not change what the model decided on: its answer is recorded after the
note, and the model is not called a second time (a paid call, and a slower answer). The same for a
call of a tool that needs an approval."""

from __future__ import annotations

from sqlalchemy import text as sql

from agent.events import DeliveryFailed
from storage.db import Database
from storage.store import Store
from tests.support.fake_model import FakeModelServer, text, tool_call
from tests.support.signoff_process import SignoffProcess, wait_until


def test_a_note_appended_during_the_model_call_is_stepped_over(
    signoff: SignoffProcess, model: FakeModelServer, sqlite_url: str
) -> None:
    model.script(text("All services are up.", delay=2.0))
    with signoff.client() as api:
        thread_id = api.post("/api/threads", json={"message": "are the services up?"}).json()["id"]
        model.wait_for_requests(1, timeout=60)  # the call is out, answering in 2 s
        append_note(sqlite_url, thread_id)
        wait_until(lambda: api.get(f"/api/threads/{thread_id}").json()["status"] == "done", timeout=60, message="done")
        events = api.get(f"/api/threads/{thread_id}").json()["events"]
    assert [e["type"] for e in events] == ["human_message", "delivery_failed", "agent_reply"]
    assert len(model.requests) == 1


def test_a_note_appended_during_a_gated_call_is_stepped_over(
    signoff: SignoffProcess, model: FakeModelServer, sqlite_url: str
) -> None:
    """The same for the model's call of a tool that needs an approval (recorded with any standing
    grant that covers it): its request is recorded after the note, from the one model call."""
    model.script(tool_call("restart_service", {"name": "payments", "reason": "it is stuck"}, delay=2.0))
    with signoff.client() as api:
        thread_id = api.post("/api/threads", json={"message": "restart payments", "by": "bob"}).json()["id"]
        model.wait_for_requests(1, timeout=60)
        append_note(sqlite_url, thread_id)
        wait_until(
            lambda: api.get(f"/api/threads/{thread_id}").json()["status"] == "waiting", timeout=60, message="waiting"
        )
        events = api.get(f"/api/threads/{thread_id}").json()["events"]
    assert [e["type"] for e in events] == ["human_message", "delivery_failed", "approval_requested"]
    assert events[-1]["arguments"] == {"name": "payments"}
    assert len(model.requests) == 1


def append_note(sqlite_url: str, thread_id: str) -> None:
    """A failed delivery, appended by another connection while the model call is out."""
    db = Database(sqlite_url)
    try:
        note = DeliveryFailed(channel="email", kind="reply", error="not delivered to heidi", attempts=1)
        assert Store(db).append(thread_id, [note]) is not None
        with db.engine.connect() as connection:
            noted = connection.execute(sql("SELECT last_seq FROM threads WHERE id = :id"), {"id": thread_id})
            assert noted.scalar_one() == 2  # the message, the note: the call has not answered yet
    finally:
        db.dispose()
