"""`POST /hooks/{name}`: a delivery signed the GitHub way or the generic way starts a thread of the
hook's agent with the message its template builds; the same key continues that thread; a replayed
delivery id, a bad or missing signature, an old timestamp, an unknown hook, an oversized body and a
payload the template cannot render are refused with a 4xx, starting nothing. A hook's thread asks
its humans on the Slack channel its entry names. Real `signoff serve` processes."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx

from bot.hooks import sign
from channels.slack.blocks import APPROVE_ACTION_ID
from tests.support.deployments import deployment_env
from tests.support.fake_model import FakeModelServer, text, tool_call
from tests.support.fake_slack import FakeSlack
from tests.support.signoff_process import SignoffProcess, wait_until
from tests.support.slack_signoff import ALICE, MakeSlackBot, button_value, has_buttons, posted

GITHUB_SECRET = "github-secret-0123456789"
GENERIC_SECRET = "generic-secret-0123456789"
HOOKS = f"""
[hooks.github]
agent = "billing"
secret = "{GITHUB_SECRET}"
form = "github"
template = "GitHub {{event}}: PR {{payload.pull_request.number}} {{payload.action}}"
key = "payload.pull_request.number"

[hooks.deploys]
agent = "ops"
secret_env = "DEPLOY_HOOK_SECRET"
template = "Deploy of {{payload.service}} finished: {{payload.outcome}}"
"""


def github(url: str, payload: dict[str, object], delivery: str, *, secret: str = GITHUB_SECRET) -> httpx.Response:
    body = json.dumps(payload).encode()
    headers = {
        "X-Hub-Signature-256": sign(secret.encode(), body, form="github"),
        "X-GitHub-Delivery": delivery,
        "X-GitHub-Event": "pull_request",
        "Content-Type": "application/json",
    }
    return httpx.post(f"{url}/hooks/github", content=body, headers=headers, timeout=10)


def generic(url: str, payload: dict[str, object], delivery: str, *, at: float | None = None) -> httpx.Response:
    body = json.dumps(payload).encode()
    stamp = int(at if at is not None else time.time())
    headers = {
        "X-Signoff-Signature": sign(GENERIC_SECRET.encode(), body, form="generic", timestamp=stamp),
        "X-Signoff-Timestamp": str(stamp),
        "X-Signoff-Delivery": delivery,
    }
    return httpx.post(f"{url}/hooks/deploys", content=body, headers=headers, timeout=10)


def test_signed_deliveries_start_and_continue_threads_and_bad_ones_start_nothing(
    tmp_path: Path, model: FakeModelServer
) -> None:
    model.default = lambda _body: text("Noted.")
    server = SignoffProcess(
        {
            "SIGNOFF_DATABASE_URL": f"sqlite:///{tmp_path / 'signoff.db'}",
            "SIGNOFF_APPROVERS": "alice@example.com",
            "DEPLOY_HOOK_SECRET": GENERIC_SECRET,
            **model.settings(),
            **deployment_env(tmp_path, HOOKS),
        },
        tmp_path,
    ).start()
    api = server.client()
    try:
        opened = github(server.url, {"action": "opened", "pull_request": {"number": 42}}, "gh-1")
        assert opened.status_code == 202, opened.text
        thread_id = opened.json()["thread_id"]
        wait_until(lambda: api.get(f"/api/threads/{thread_id}").json()["status"] == "done")
        synced = github(server.url, {"action": "synchronize", "pull_request": {"number": 42}}, "gh-2")
        assert synced.status_code == 202 and synced.json()["thread_id"] == thread_id  # the same PR, its thread
        deployed = generic(server.url, {"service": "web", "outcome": "ok"}, "dep-1")
        assert deployed.status_code == 202, deployed.text

        def messages(tid: str) -> list[tuple[str, str]]:
            events = api.get(f"/api/threads/{tid}").json()["events"]
            return [(e["text"], e["by"]) for e in events if e["type"] == "human_message"]

        assert wait_until(lambda: len(messages(thread_id)) == 2 and messages(thread_id)) == [
            ("GitHub pull_request: PR 42 opened", "hook:github"),
            ("GitHub pull_request: PR 42 synchronize", "hook:github"),
        ]
        threads = {t["id"]: t for t in api.get("/api/threads").json()["threads"]}
        assert threads[thread_id]["agent"] == "billing"
        assert threads[deployed.json()["thread_id"]]["agent"] == "ops"
        assert messages(deployed.json()["thread_id"]) == [("Deploy of web finished: ok", "hook:deploys")]

        refused = {
            "replayed delivery": github(server.url, {"action": "opened", "pull_request": {"number": 42}}, "gh-1"),
            "replayed generic": generic(server.url, {"service": "web", "outcome": "ok"}, "dep-1"),
            "wrong secret": github(server.url, {"pull_request": {"number": 1}}, "gh-3", secret="not-the-secret-at-all"),
            "old timestamp": generic(server.url, {"service": "web", "outcome": "ok"}, "dep-2", at=time.time() - 600),
            "no template field": generic(server.url, {"service": "web"}, "dep-3"),
            "unknown hook": httpx.post(f"{server.url}/hooks/nope", content=b"{}", timeout=10),
            "unsigned": httpx.post(f"{server.url}/hooks/github", content=b"{}", timeout=10),
            "too large": httpx.post(f"{server.url}/hooks/github", content=b"x" * 300_000, timeout=10),
        }
        assert {why: r.status_code for why, r in refused.items()} == {
            "replayed delivery": 409,
            "replayed generic": 409,
            "wrong secret": 401,
            "old timestamp": 401,
            "no template field": 422,
            "unknown hook": 404,
            "unsigned": 401,
            "too large": 413,
        }
        assert "already received" in refused["replayed delivery"].json()["detail"]
        assert len(api.get("/api/threads").json()["threads"]) == 2  # nothing else started
        assert len(messages(thread_id)) == 2
    finally:
        server.stop()


def test_a_hook_thread_asks_its_humans_on_the_configured_channel(
    make_slack_bot: MakeSlackBot, fake: FakeSlack, model: FakeModelServer, tmp_path: Path
) -> None:
    asking = HOOKS.replace('key = "payload.pull_request.number"', 'ask = "slack:C0ONCALL"')
    model.script(tool_call("refund", {"number": 42, "reason": "the PR says so"}), text("Refunded."))
    bot = make_slack_bot(DEPLOY_HOOK_SECRET=GENERIC_SECRET, **deployment_env(tmp_path, asking))
    assert github(bot.process.url, {"action": "opened", "pull_request": {"number": 42}}, "gh-9").status_code == 202
    [(where, card)] = wait_until(lambda: posted(fake, has_buttons))
    assert where[0] == "C0ONCALL" and not card.get("thread_ts")  # a top-level post in the channel named
    assert card["blocks"][0]["elements"][0]["text"] == "*billing* agent"

    # An approver decides on the card; the outcome and the last word stay in that channel, named.
    bot.click(APPROVE_ACTION_ID, button_value(card), user=ALICE, card=where)
    [(_, said)] = wait_until(lambda: posted(fake, lambda m: "Refunded." in m.get("text", "")))
    assert said["text"] == "*billing*: Refunded." and not said.get("thread_ts")
    decided = wait_until(lambda: not has_buttons(fake.messages[where]) and fake.messages[where])
    assert decided["blocks"][0]["elements"][0]["text"] == "*billing* agent"
