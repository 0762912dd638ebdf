"""Which agent a new conversation goes to: pure, from where it came in and its first words.

The order: a Slack slash command of the agent's own (`/billing ...`, a keyword the Slack app also
declares as a command), then a keyword starting the message (`ops ...`, `/billing ...`), then the Slack channel,
then the email address it was sent to (`ops@example.com`, or a plus-alias `+ops` matching
`anything+ops@...`), then the default agent. A thread keeps the agent it started with; only
its first message is routed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from channels.invisible import clean_inbound


def _first_word(text: str) -> str:
    # A Slack mention left in front (`<@UBOT> ops restart`) is not the first word.
    words = [w for w in clean_inbound(text[:200]).split() if not (w.startswith("<@") and w.endswith(">"))]
    return words[0].lower().lstrip("/").rstrip(":,") if words else ""


def _alias(address: str) -> str | None:
    local, at, _domain = address.partition("@")
    if not at or "+" not in local:
        return None
    return "+" + local.split("+", 1)[1]


@dataclass(frozen=True)
class Router:
    default: str
    slack_channels: Mapping[str, str] = field(default_factory=dict)
    emails: Mapping[str, str] = field(default_factory=dict)  # lowercased address or "+alias" -> agent
    keywords: Mapping[str, str] = field(default_factory=dict)  # lowercased, no slash -> agent

    def route(self, channel: str, data: Mapping[str, Any], text: str) -> str:
        """The agent for a conversation opened on `channel` with origin `data` and first `text`."""
        if channel == "slack":
            by_command = self.keywords.get(str(data.get("command", "")).lower().lstrip("/"))
            if by_command:
                return by_command
        keyword = self.keywords.get(_first_word(text))
        if keyword:
            return keyword
        if channel == "slack":
            by_channel = self.slack_channels.get(str(data.get("channel", "")))
            if by_channel:
                return by_channel
        if channel == "email":
            for address in _addresses(data.get("to")):
                by_address = self.emails.get(address) or self.emails.get(_alias(address) or "")
                if by_address:
                    return by_address
        return self.default

    def commands(self) -> frozenset[str]:
        """The slash commands (without `/`) that start a conversation with an agent, if Slack sends them."""
        return frozenset(self.keywords)

    def routes(self) -> list[tuple[str, str]]:
        """(what, agent) for every route, as `signoff agents check` prints them."""
        return [
            *((f"Slack channel {c}", a) for c, a in self.slack_channels.items()),
            *((f"email {e}", a) for e, a in self.emails.items()),
            *((f"keyword {k} (or /{k})", a) for k, a in self.keywords.items()),
            ("anything else", self.default),
        ]


def _addresses(value: object) -> Iterable[str]:
    if isinstance(value, list):
        return [v.lower() for v in value[:50] if isinstance(v, str)]
    return []
