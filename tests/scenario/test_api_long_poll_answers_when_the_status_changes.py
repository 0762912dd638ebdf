"""`GET /api/threads/{id}?wait=N` holds the request until the thread's status changes (the change
made in a worker process, or by the CLI), and answers with the thread as it is then; with nothing
changing it answers after N seconds with the thread unchanged. Bad values get a 422."""

from __future__ import annotations

import threading
import time

from tests.support.fake_model import FakeModelServer, text, tool_call
from tests.support.signoff_process import SignoffProcess, wait_until


def test_a_long_poll_returns_at_the_change_not_before(signoff: SignoffProcess, model: FakeModelServer) -> None:
    model.script(tool_call("restart_service", {"name": "web", "reason": "slow"}, delay=1.0), text("Restarted."))
    with signoff.client() as api:
        thread_id = api.post("/api/threads", json={"message": "restart web"}).json()["id"]

        # It comes back at the change: with the thread waiting, before the 60 s are up.
        waited = api.get(f"/api/threads/{thread_id}", params={"wait": 60, "status": "running"}, timeout=70).json()
        assert waited["status"] == "waiting", waited
        assert waited["events"][-1]["type"] == "approval_requested"

        began = time.monotonic()
        unchanged = api.get(f"/api/threads/{thread_id}", params={"wait": 1}).json()
        assert unchanged["status"] == "waiting" and time.monotonic() - began >= 0.9

        [request] = api.get("/api/requests", params={"status": "pending"}).json()["requests"]
        answers: list[dict] = []  # type: ignore[type-arg]

        def poll() -> None:
            with signoff.client() as poller:
                answers.append(poller.get(f"/api/threads/{thread_id}", params={"wait": 30}, timeout=40).json())

        waiter = threading.Thread(target=poll)
        waiter.start()
        time.sleep(0.5)  # ok: lets the long poll begin before the decision
        decided = api.post(
            f"/api/requests/{request['id']}/decision", json={"decision": "approve", "by": "alice@example.com"}
        )
        assert decided.status_code == 200, decided.text
        waiter.join(40)
        [answer] = answers
        assert answer["status"] in ("running", "done"), answer
        wait_until(lambda: api.get(f"/api/threads/{thread_id}").json()["status"] == "done", message="done")

        for bad in ({"wait": -1}, {"wait": 61}, {"wait": 1, "status": "sleeping"}):
            assert api.get(f"/api/threads/{thread_id}", params=bad).status_code == 422
        assert api.get("/api/threads/nope", params={"wait": 5}).status_code == 404
