"""The callback of a standalone request (POST /api/approvals with `callback_url`):

- `signoff serve` SIGKILLed right after the decision is committed, before the callback went out:
  on restart it is posted, once, and marked sent.
- A callback URL that redirects is not followed (the redirect's target never hears from us; the
  row keeps being retried, its error says HTTP 302).
- SIGNOFF_CALLBACK_HOSTS restricts where callbacks may go: any other host is refused at creation.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from bot.callbacks import verify
from tests.support.callback_receiver import CallbackReceiver
from tests.support.crash import CrashableSignoff
from tests.support.signoff_process import API_TOKEN, SignoffProcess, wait_until

ALICE = "alice@example.com"


def _serve(tmp_path: Path, **env: str) -> CrashableSignoff:
    return CrashableSignoff(
        {
            "SIGNOFF_DATABASE_URL": f"sqlite:///{tmp_path / 'signoff.db'}",
            "SIGNOFF_APPROVERS": ALICE,
            **env,
        },
        tmp_path,
    )


def _deliveries(api: httpx.Client, request_id: str) -> list[dict[str, object]]:
    thread_id = api.get(f"/api/requests/{request_id}").json()["thread_id"]
    return [d for d in api.get(f"/api/threads/{thread_id}").json()["deliveries"] if d["channel"] == "callback"]


def test_a_callback_is_posted_once_after_a_kill_between_the_decision_and_the_post(tmp_path: Path) -> None:
    server = _serve(tmp_path)
    with CallbackReceiver() as hook:
        assert server.start_with("after_inbound_recorded=1")
        try:
            with server.client() as api:
                created = api.post(
                    "/api/approvals",
                    json={
                        "action": "deploy",
                        "arguments": {"v": 2},
                        "approvers": [ALICE],
                        "channel": "api",
                        "callback_url": hook.url,
                    },
                )
                assert created.status_code == 201, created.text
                request_id, secret = created.json()["id"], created.json()["callback_secret"]
                try:  # the decision is committed, then the process dies before answering
                    api.post(f"/api/requests/{request_id}/decision", json={"decision": "approve", "by": ALICE})
                except httpx.HTTPError:
                    pass
            assert server.proc is not None and server.proc.wait(30) == -9
            assert "failpoint after_inbound_recorded reached" in server.logs()
            assert hook.posts == []

            assert server.start_with("")
            [post] = hook.wait_for(1)
            with server.client() as api:
                wait_until(lambda: _deliveries(api, request_id)[0]["status"] == "sent", message="callback sent")
                # A worker process killed with the group may have claimed the row (an attempt that
                # posted nothing): what counts is what the receiver got.
                assert _deliveries(api, request_id)[0]["attempts"] in (1, 2)
                assert api.get(f"/api/approvals/{request_id}").json()["status"] == "approved"
            assert len(hook.posts) == 1
            assert verify(secret, post.body, post.headers["X-Signoff-Signature"])
            assert json.loads(post.body)["status"] == "approved"
        finally:
            server.stop()


def test_a_redirecting_callback_is_not_followed_and_other_hosts_are_refused(tmp_path: Path) -> None:
    process = SignoffProcess(
        {
            "SIGNOFF_DATABASE_URL": f"sqlite:///{tmp_path / 'signoff.db'}",
            "SIGNOFF_APPROVERS": ALICE,
            "SIGNOFF_CALLBACK_HOSTS": "127.0.0.1",
        },
        tmp_path,
    )
    with CallbackReceiver() as target, CallbackReceiver(redirect_to=target.url) as hook:
        process.start()
        try:
            api = httpx.Client(base_url=process.url, headers={"Authorization": f"Bearer {API_TOKEN}"}, timeout=10)
            body = {"action": "deploy", "approvers": [ALICE], "channel": "api"}
            refused = api.post("/api/approvals", json={**body, "callback_url": "http://metadata.internal/latest"})
            assert refused.status_code == 422 and "SIGNOFF_CALLBACK_HOSTS" in refused.text
            created = api.post("/api/approvals", json={**body, "callback_url": hook.url}).json()
            api.post(f"/api/requests/{created['id']}/decision", json={"decision": "deny", "by": ALICE})
            hook.wait_for(1)
            wait_until(
                lambda: "HTTP 302" in str(_deliveries(api, created["id"])[0]["error"]), message="the 302 recorded"
            )
            [delivery] = _deliveries(api, created["id"])
            assert delivery["status"] == "pending"  # tried again later, never followed
            assert target.posts == []
            api.close()
        finally:
            process.stop()
