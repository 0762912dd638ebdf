"""Bad input to the HTTP API gets a clear 4xx, and nothing is written."""

from __future__ import annotations

import httpx
from sqlalchemy import func
from sqlmodel import select

from storage.db import Database
from storage.models import EventRow, ReceiptRow, RequestRow, ThreadRow
from tests.support.fake_model import FakeModelServer, tool_call
from tests.support.signoff_process import SignoffProcess, wait_until


def _counts(url: str) -> dict[str, int]:
    db = Database(url)
    try:
        with db.session() as session:
            return {
                table.__name__: session.exec(select(func.count()).select_from(table)).one()
                for table in (ThreadRow, EventRow, RequestRow, ReceiptRow)
            }
    finally:
        db.dispose()


def test_bad_requests_get_clear_errors_and_write_nothing(
    signoff: SignoffProcess, model: FakeModelServer, sqlite_url: str
) -> None:
    model.script(tool_call("restart_service", {"name": "web", "reason": "slow"}))
    with signoff.client() as api:
        thread_id = api.post("/api/threads", json={"message": "restart web"}).json()["id"]
        wait_until(lambda: api.get(f"/api/threads/{thread_id}").json()["status"] == "waiting", message="waiting")
        request_id = api.get("/api/requests", params={"status": "pending"}).json()["requests"][0]["id"]
        before = _counts(sqlite_url)

        with signoff.client(token="wrong") as intruder:
            response = intruder.post("/api/threads", json={"message": "hi"})
            assert response.status_code == 401 and "bearer token" in response.json()["detail"]
            assert (
                intruder.post(
                    f"/api/requests/{request_id}/decision", json={"decision": "approve", "by": "alice@example.com"}
                ).status_code
                == 401
            )
        assert api.get("/api/threads", headers={"Authorization": ""}).status_code == 401

        assert api.get("/api/threads/nope").status_code == 404
        missing = api.post("/api/requests/nope/decision", json={"decision": "approve", "by": "alice@example.com"})
        assert missing.status_code == 404 and "no request nope" in missing.json()["detail"]

        malformed = api.post("/api/threads", content=b'{"message": ', headers={"content-type": "application/json"})
        assert malformed.status_code == 422 and malformed.json()["detail"] == "invalid request"
        assert api.post("/api/threads", json={"message": ""}).status_code == 422
        assert api.post("/api/threads", json={"text": "wrong field"}).status_code == 422
        assert (
            api.post(f"/api/requests/{request_id}/decision", json={"decision": "maybe", "by": "x"}).status_code == 422
        )
        assert (
            api.post(
                f"/api/requests/{request_id}/answer", json={"answer": "yes", "by": "alice@example.com"}
            ).status_code
            == 409
        )
        assert api.get("/api/threads", params={"status": "sleeping"}).status_code == 422

        stranger = api.post(
            f"/api/requests/{request_id}/decision", json={"decision": "approve", "by": "mallory@evil.test"}
        )
        assert stranger.status_code == 403 and "may not answer" in stranger.json()["detail"]

        assert _counts(sqlite_url) == before

        first = api.post(f"/api/requests/{request_id}/decision", json={"decision": "deny", "by": "alice@example.com"})
        assert first.status_code == 200
        second = api.post(f"/api/requests/{request_id}/decision", json={"decision": "approve", "by": "U0ALICE"})
        assert second.status_code == 409
        assert second.json()["detail"] == "already denied by alice@example.com"
        decisions = [
            e for e in api.get(f"/api/threads/{thread_id}").json()["events"] if e["type"] == "approval_decided"
        ]
        assert len(decisions) == 1 and decisions[0]["approved"] is False


def test_health_and_metrics_need_no_token(signoff: SignoffProcess) -> None:
    with httpx.Client(base_url=signoff.url) as anonymous:
        health = anonymous.get("/healthz")
        assert health.status_code == 200 and health.json()["status"] == "ok"
        metrics = anonymous.get("/metrics")
        assert metrics.status_code == 200
        assert 'signoff_threads{status="waiting"}' in metrics.text
