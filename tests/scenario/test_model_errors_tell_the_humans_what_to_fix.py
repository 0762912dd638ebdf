"""Model errors no retry can fix (a wrong key, a context overflow, a 400): the model is called once,
the thread stops on one `error` event that says what happened and what to fix, and the humans are
told in their channel; once fixed, a reply in the thread tries again."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support.fake_model import FakeModelServer, http_error, text
from tests.support.fake_slack import FakeSlack
from tests.support.signoff_process import SignoffProcess, wait_until
from tests.support.slack_requests import app_mention, message_event
from tests.support.slack_signoff import BOB, posted, slack_signoff

WRONG_KEY = {
    "error": {
        "message": "Incorrect API key provided: sk-wrong",
        "type": "invalid_request_error",
        "code": "invalid_api_key",
    }
}
TOO_LONG = {
    "error": {
        "message": "This model's maximum context length is 8192 tokens. However, your messages resulted in 9001 tokens.",
        "type": "invalid_request_error",
        "code": "context_length_exceeded",
    }
}
NO_TOOLS = {"error": {"message": "tools is not supported by this model", "type": "invalid_request_error"}}

# A 200 whose body has no choices: the server answered, with nothing in it.
NO_CHOICES = http_error(200, {"id": "x", "object": "chat.completion", "created": 0, "model": "fake", "choices": []})

CASES = {
    "wrong key": (http_error(401, WRONG_KEY), "the model rejected the API key (HTTP 401): check SIGNOFF_MODEL_API_KEY"),
    "context overflow": (
        http_error(400, TOO_LONG),
        "the thread no longer fits in the model's context window (HTTP 400): lower the agent's context_token_budget",
    ),
    "forbidden": (http_error(403), "the model refused access (HTTP 403): check that SIGNOFF_MODEL_API_KEY may use"),
    "no such model": (http_error(404), "the model or its endpoint was not found (HTTP 404): check SIGNOFF_MODEL and"),
    "no message": (
        NO_CHOICES,
        "the model sent an empty answer (no message): check that SIGNOFF_MODEL_API_BASE serves OpenAI-compatible",
    ),
    "bad request": (
        http_error(400, NO_TOOLS),
        "the model rejected the request (HTTP 400): check that SIGNOFF_MODEL supports tool calling",
    ),
}


def _thread(api: Any, thread_id: str, status: str) -> dict[str, Any]:
    return dict(
        wait_until(
            lambda: (t := api.get(f"/api/threads/{thread_id}").json())["status"] == status and t,
            timeout=60,
            message=f"thread {status}",
        )
    )


@pytest.mark.parametrize("case", list(CASES))
def test_the_thread_stops_on_one_error_that_says_what_to_fix(
    signoff: SignoffProcess, model: FakeModelServer, case: str
) -> None:
    answer, fix = CASES[case]
    model.script(answer)
    with signoff.client() as api:
        thread_id = api.post("/api/threads", json={"message": "how is search?", "by": "carol"}).json()["id"]
        events = _thread(api, thread_id, "failed")["events"]
    assert [e["type"] for e in events] == ["human_message", "error"]
    error = events[1]
    assert error["source"] == "model" and error["fatal"]
    assert error["message"].startswith(fix), error["message"]
    if case != "no message":
        assert " Provider said: " in error["message"], "the operator also reads what the provider said"
    assert len(error["message"]) <= 400
    assert len(model.requests) == 1, "an error no retry can fix is not retried"
    assert "model call failed, not retryable" in signoff.logs()


def test_slack_users_are_told_what_to_fix_and_a_reply_tries_again(
    fake: FakeSlack, model: FakeModelServer, tmp_path: Path
) -> None:
    model.script(http_error(401, WRONG_KEY), text("search is running version 2.0.1."))
    with slack_signoff(fake, model, tmp_path) as bot:
        mention = app_mention("<@UBOT> how is search?", user=BOB, channel="C7")
        assert bot.event(mention).status_code == 200
        [(at, notice)] = wait_until(lambda: posted(fake, lambda m: "I had to stop" in m["text"]), message="the notice")
        assert at[0] == "C7" and notice["thread_ts"] == mention["ts"]
        assert "the model rejected the API key" in notice["text"]
        assert "check SIGNOFF_MODEL_API_KEY" in notice["text"]
        assert notice["text"] == (
            "I had to stop: the model rejected the API key (HTTP 401): check SIGNOFF_MODEL_API_KEY. "
            "Once that is fixed, reply here and I will try again."
        ), "the provider's own words (here: part of the key) stay in the error event, out of the channel"
        thread = bot.only_thread()
        assert thread["status"] == "failed"
        assert [e["type"] for e in thread["events"]] == ["human_message", "error"]

        # The operator fixed the key (the model answers again); the requester replies in the thread.
        assert bot.event(message_event("try again", user=BOB, channel="C7", thread_ts=mention["ts"])).status_code == 200
        done = bot.wait_status(thread["id"], "done")
        assert [e["type"] for e in done["events"]] == ["human_message", "error", "human_message", "agent_reply"]
        wait_until(lambda: posted(fake, lambda m: m["text"] == "search is running version 2.0.1."), message="reply")
        assert len(model.requests) == 2
    assert fake.errors == []
