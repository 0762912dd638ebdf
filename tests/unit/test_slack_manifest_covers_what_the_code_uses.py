"""manifest.yml grants exactly the events and scopes the Slack channel needs, and no more."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from channels.slack.manifest_requirements import (
    EVENT_SCOPES,
    FEATURE_SCOPES,
    METHOD_SCOPES,
    REQUIRED_EVENTS,
    REQUIRED_SCOPES,
    SHORTCUT_CALLBACK_ID,
    SLASH_COMMAND,
)
from tests.support.fake_slack import FakeSlack

MANIFEST = Path(__file__).resolve().parents[2] / "manifest.yml"


def manifest() -> dict[str, Any]:
    data = yaml.safe_load(MANIFEST.read_text())
    assert isinstance(data, dict)
    return data


def test_every_required_event_is_subscribed() -> None:
    bot_events = set(manifest()["settings"]["event_subscriptions"]["bot_events"])
    assert REQUIRED_EVENTS <= bot_events, f"add to manifest.yml bot_events: {sorted(REQUIRED_EVENTS - bot_events)}"


def test_every_required_scope_is_granted() -> None:
    scopes = set(manifest()["oauth_config"]["scopes"]["bot"])
    assert REQUIRED_SCOPES <= scopes, f"add to manifest.yml bot scopes: {sorted(REQUIRED_SCOPES - scopes)}"


def test_manifest_asks_for_nothing_the_code_does_not_use() -> None:
    data = manifest()
    assert set(data["oauth_config"]["scopes"]["bot"]) == REQUIRED_SCOPES
    assert set(data["settings"]["event_subscriptions"]["bot_events"]) == REQUIRED_EVENTS


def test_each_event_and_method_brings_its_scope() -> None:
    assert set(EVENT_SCOPES.values()) | set(FEATURE_SCOPES.values()) <= REQUIRED_SCOPES
    for method, scopes in METHOD_SCOPES.items():
        assert scopes <= REQUIRED_SCOPES, method


def test_interactivity_and_socket_mode_are_on_and_the_rest_off() -> None:
    settings = manifest()["settings"]
    assert settings["interactivity"]["is_enabled"] is True
    assert settings["interactivity"]["request_url"] == "https://signoff.example.com/slack/events"
    assert settings["socket_mode_enabled"] is True
    assert settings["org_deploy_enabled"] is False
    assert settings["token_rotation_enabled"] is False
    assert manifest()["features"]["bot_user"]["display_name"]
    assert manifest()["features"]["app_home"]["messages_tab_enabled"] is True  # people can DM the bot


def test_the_fake_slack_serves_every_method_the_code_calls() -> None:
    assert set(METHOD_SCOPES) <= set(FakeSlack.METHODS)


def test_the_home_tab_the_slash_command_and_the_shortcut_are_declared() -> None:
    features = manifest()["features"]
    assert features["app_home"]["home_tab_enabled"] is True
    [command] = features["slash_commands"]
    assert command["command"] == SLASH_COMMAND
    assert command["url"] == "https://signoff.example.com/slack/events"
    [shortcut] = features["shortcuts"]
    assert shortcut["type"] == "message" and shortcut["callback_id"] == SHORTCUT_CALLBACK_ID
    assert shortcut["name"] == "Ask Signoff about this"
    assert "commands" in manifest()["oauth_config"]["scopes"]["bot"]
