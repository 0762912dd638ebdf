"""Read from the code itself: every Web API method the Slack channel calls and every event it listens
to is in manifest_requirements (and so, by test_slack_manifest_covers_what_the_code_uses, in
manifest.yml); nothing listed there is left unused."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from channels.slack.manifest_requirements import METHOD_SCOPES, REQUIRED_EVENTS

SLACK = Path(__file__).resolve().parents[2] / "channels" / "slack"
# Called by Bolt itself, not by our modules: auth.test (who the bot is).
CALLED_BY_BOLT = {"auth.test"}
# Bolt listens to `message`; Slack delivers it through one subscription per kind of conversation.
MESSAGE_EVENTS = {"message.channels", "message.groups", "message.im", "message.mpim"}


def sdk_method(name: str) -> str:
    """`chat_postMessage` -> `chat.postMessage`, `usergroups_users_list` -> `usergroups.users.list`."""
    return name.replace("_", ".")


def calls_and_listeners() -> tuple[set[str], set[str]]:
    methods: set[str] = set()
    events: set[str] = set()
    for path in SLACK.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
                continue
            owner = node.func.value
            if (
                isinstance(owner, ast.Attribute)
                and owner.attr == "client"
                or (isinstance(owner, ast.Name) and owner.id == "client")
            ):
                methods.add(sdk_method(node.func.attr))
        for match in re.finditer(r"@app\.event\(\"([a-z_]+)\"\)", path.read_text()):
            events.add(match.group(1))
    return methods, events


def test_every_method_the_code_calls_is_required_and_nothing_more() -> None:
    methods, _ = calls_and_listeners()
    assert methods, "found no Web API calls: has the client moved?"
    assert methods | CALLED_BY_BOLT == set(METHOD_SCOPES)


def test_every_event_the_code_listens_to_is_subscribed_and_nothing_more() -> None:
    _, events = calls_and_listeners()
    assert events == {"app_mention", "message", "app_home_opened"}
    assert {"app_mention", "app_home_opened", *MESSAGE_EVENTS} == set(REQUIRED_EVENTS)
