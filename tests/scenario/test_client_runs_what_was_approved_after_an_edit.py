"""`signoff_client.require_approval` runs the wrapped function with the arguments as approved: an
approver's edit (checked against the types the arguments were given as) is what the function gets,
and it runs once. A request made without `editable` refuses edits; a question asked with
`allow_free_text=False` refuses an answer that is none of its options and reports the choice.
A real `signoff serve`, decided over its HTTP API; the client runs in this process."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from signoff_client import Signoff
from tests.support.fake_model import FakeModelServer
from tests.support.signoff_process import API_TOKEN, SignoffProcess, wait_until

ALICE = "alice@example.com"


def pending(api: httpx.Client, kind: str) -> dict[str, Any]:
    [request] = wait_until(
        lambda: [
            r for r in api.get("/api/requests", params={"status": "pending"}).json()["requests"] if r["kind"] == kind
        ],
        message=f"a pending {kind}",
    )
    return dict(request)


def test_the_decorated_function_gets_the_edited_arguments(tmp_path: Path, model: FakeModelServer) -> None:
    server = SignoffProcess(
        {
            "SIGNOFF_DATABASE_URL": f"sqlite:///{tmp_path / 'signoff.db'}",
            **model.settings(),
            "SIGNOFF_APPROVERS": ALICE,
            "SIGNOFF_API_TOKEN_MAY_DECIDE": "true",
        },
        tmp_path,
    ).start()
    api = server.client()
    signoff = Signoff(server.url, API_TOKEN)
    runs: list[tuple[str, int]] = []

    @signoff.require_approval(approvers=[ALICE], channel="api", reason="disk almost full", timeout=60)
    def resize(volume: str, size_gb: int) -> str:
        runs.append((volume, size_gb))
        return f"{volume} is {size_gb} GB"

    try:
        with ThreadPoolExecutor(1) as pool:
            result = pool.submit(resize, "data", 500)
            request = pending(api, "approval")
            assert request["arguments"] == {"volume": "data", "size_gb": 500} and request["editable"] is True
            decision = f"/api/requests/{request['id']}/decision"
            bad = api.post(decision, json={"decision": "approve", "by": ALICE, "arguments": {"size_gb": "big"}})
            assert bad.status_code == 422 and "size_gb" in bad.json()["detail"]
            assert not runs
            good = api.post(decision, json={"decision": "approve", "by": ALICE, "arguments": {"size_gb": 50}})
            assert good.status_code == 200, good.text
            assert result.result(timeout=60) == "data is 50 GB"
        assert runs == [("data", 50)]

        plain = signoff.request_approval("purge", {"table": "users"}, approvers=[ALICE], channel="api", wait=False)
        refused = api.post(
            f"/api/requests/{plain.id}/decision", json={"decision": "approve", "by": ALICE, "arguments": {"table": "x"}}
        )
        assert refused.status_code == 409 and "cannot be edited" in refused.json()["detail"]

        with ThreadPoolExecutor(1) as pool:
            asked = pool.submit(
                signoff.ask,
                "Which region?",
                answerers=[ALICE],
                options_offered=["eu", "us"],
                allow_free_text=False,
                channel="api",
                timeout=60,
            )
            question = pending(api, "question")
            answer = f"/api/requests/{question['id']}/answer"
            offside = api.post(answer, json={"answer": "asia", "by": ALICE})
            assert offside.status_code == 422 and "1) eu  2) us" in offside.json()["detail"]
            assert api.post(answer, json={"answer": "EU", "by": ALICE}).status_code == 200
            got = asked.result(timeout=60)
        assert (got.answer, got.choice) == ("eu", "eu")
    finally:
        api.close()
        server.stop()
