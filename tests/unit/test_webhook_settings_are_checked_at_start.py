"""SIGNOFF_WEBHOOK_URL and SIGNOFF_WEBHOOK_SECRET are checked when the settings are read: a wrong
value stops the start with a message naming the variable."""

from __future__ import annotations

import base64

import pytest

from bot.errors import ConfigError
from bot.settings import load_settings

GOOD = "whsec_" + base64.b64encode(b"a webhook secret, 32 bytes long").decode()


def test_a_url_with_its_secret_is_accepted() -> None:
    settings = load_settings(webhook_url="https://agent.example.com/hook", webhook_secret=GOOD)
    assert settings.webhook_url == "https://agent.example.com/hook" and not settings.agent_is_webhook
    elsewhere = load_settings(agent="webhook", webhook_url="https://agent.example.com/hook", webhook_secret=GOOD)
    assert elsewhere.agent_is_webhook


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"webhook_url": "https://agent.example.com/hook"}, "SIGNOFF_WEBHOOK_SECRET"),
        ({"webhook_url": "ftp://agent.example.com/hook", "webhook_secret": GOOD}, "SIGNOFF_WEBHOOK_URL"),
        ({"webhook_secret": "not-whsec"}, "SIGNOFF_WEBHOOK_SECRET"),
        ({"webhook_secret": "whsec_c2hvcnQ="}, "SIGNOFF_WEBHOOK_SECRET"),  # 5 bytes
        ({"agent": "webhook"}, "SIGNOFF_WEBHOOK_URL"),  # an agent that lives elsewhere needs its URL
        ({"agent": "webhooks"}, "SIGNOFF_AGENT"),
    ],
)
def test_wrong_values_name_the_variable(values: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        load_settings(**values)
