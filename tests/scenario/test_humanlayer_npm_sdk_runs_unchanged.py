"""Code written for HumanLayer's npm SDK runs unchanged against Signoff: node runs tests/node/agent.mjs
with the real `humanlayer` package (pinned in tests/node/package-lock.json; `scripts/test` installs
it with `npm ci`), pointed at a real `signoff serve` by HUMANLAYER_API_BASE and HUMANLAYER_API_KEY.
It asks with `createFunctionCall` and `createHumanContact`; Alice approves with a signed Slack
click and answers in the question's thread; the completion webhooks reach the agent's own HTTP
server, which checks their Standard Webhooks signature (and refuses a forged one)."""

from __future__ import annotations

import base64
import json
import queue
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from humanlayer.core.models_agent_webhook import V1Beta2FunctionCallCompleted, V1Beta2HumanContactCompleted

from channels.slack.blocks import APPROVE_ACTION_ID
from tests.support.fake_slack import FakeSlack
from tests.support.signoff_process import API_TOKEN, wait_until
from tests.support.skips import skip_or_fail
from tests.support.slack_requests import message_event
from tests.support.slack_signoff import ALICE, MakeSlackBot, button_value, posted, wait_for_card

NODE_DIR = Path(__file__).resolve().parents[1] / "node"
APPROVALS = "C0APPROVALS"
SECRET = "whsec_" + base64.b64encode(b"the node agent's secret, 32 byte").decode()


class NodeAgent:
    """tests/node/agent.mjs in a node process; its stdout, one JSON object a line."""

    def __init__(self, node: str) -> None:
        self.proc = subprocess.Popen(
            [node, "agent.mjs"],
            cwd=NODE_DIR,
            env={"PATH": "/usr/bin:/bin", "WEBHOOK_SECRET": SECRET},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[dict[str, Any]] = queue.Queue()
        self.seen: list[dict[str, Any]] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(json.loads(line))

    def next(self, key: str, timeout: float = 60) -> dict[str, Any]:
        """The next line that has `key` (the lines before it are kept in `seen`)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                err = self.proc.stderr.read() if self.proc.poll() is not None and self.proc.stderr else ""
                raise AssertionError(f"node printed no {key!r} in {timeout}s; seen {self.seen}; {err}") from None
            self.seen.append(line)
            if "error" in line:
                raise AssertionError(f"the node agent failed: {line['error']}")
            if key in line:
                return line

    def send(self, config: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(config) + "\n")
        self.proc.stdin.flush()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)


@pytest.fixture
def node_agent() -> Iterator[NodeAgent]:
    node = shutil.which("node")
    if node is None or not (NODE_DIR / "node_modules" / "humanlayer" / "package.json").exists():
        skip_or_fail("node and tests/node's packages are needed (apt-get install nodejs npm; cd tests/node && npm ci)")
    assert node is not None
    agent = NodeAgent(node)
    yield agent
    agent.close()


def test_create_function_call_and_human_contact_from_node_complete_with_signed_webhooks(
    node_agent: NodeAgent, make_slack_bot: MakeSlackBot, fake: FakeSlack
) -> None:
    webhook_url = node_agent.next("webhook_url")["webhook_url"]
    bot = make_slack_bot(
        SLACK_APPROVALS_CHANNEL=APPROVALS, SIGNOFF_WEBHOOK_URL=webhook_url, SIGNOFF_WEBHOOK_SECRET=SECRET
    )
    channel = {"slack": {"channel_or_user_id": APPROVALS, "context_about_channel_or_user": "the ops channel"}}
    node_agent.send({"api_base": f"{bot.process.url}/humanlayer/v1", "api_key": API_TOKEN, "channel": channel})

    call = node_agent.next("function_call")["function_call"]
    assert call["run_id"] == "node-agent" and call["spec"]["kwargs"] == {"version": "2.3"}
    assert call["status"]["requested_at"] and call["status"]["approved"] is None
    [(card_at, card)] = wait_for_card(fake)
    assert card_at[0] == APPROVALS and "2.3" in json.dumps(card["blocks"])

    contact = node_agent.next("human_contact")["human_contact"]
    assert contact["spec"]["msg"] == "Which region first?" and contact["status"]["response"] is None
    [(question_at, _question)] = wait_until(
        lambda: [p for p in posted(fake) if "Which region first?" in json.dumps(p[1])], message="the question"
    )

    # A forged webhook is refused by the agent: its check is real.
    forged = httpx.post(
        webhook_url,
        content=b'{"type":"function_call.completed"}',
        headers={
            "webhook-id": "msg_forged",
            "webhook-timestamp": str(int(time.time())),
            "webhook-signature": "v1,AAAA",
        },
    )
    assert forged.status_code == 401 and node_agent.next("refused")["refused"] == "msg_forged"

    assert bot.click(APPROVE_ACTION_ID, button_value(card), user=ALICE, card=card_at).is_success
    bot.wait_delivered()
    bot.event(message_event("eu-west", user=ALICE, channel=APPROVALS, thread_ts=question_at[1]))

    node_agent.next("finished", timeout=90)
    webhooks = {line["webhook"]["type"]: line for line in node_agent.seen if "webhook" in line}
    assert set(webhooks) == {"function_call.completed", "human_contact.completed"}
    approved = V1Beta2FunctionCallCompleted.model_validate(webhooks["function_call.completed"]["webhook"])
    assert approved.event.call_id == call["call_id"] and approved.event.spec.state == {"step": 1}
    assert approved.event.status is not None and approved.event.status.approved is True
    answered = V1Beta2HumanContactCompleted.model_validate(webhooks["human_contact.completed"]["webhook"])
    assert answered.event.status is not None and answered.event.status.response == "eu-west"
    [read_back] = [line for line in node_agent.seen if "read_back" in line]
    assert read_back["read_back"]["status"]["approved"] is True
    assert read_back["contact"]["status"]["response"] == "eu-west"
    assert node_agent.proc.wait(30) == 0
