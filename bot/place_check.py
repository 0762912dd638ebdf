"""The places an agent sends its requests to (agent/places.py) need their channel: checked by `serve`
(which refuses to start) and by `doctor` (which names each one).

An agent whose requests go to `slack:dm` in a deployment without Slack would leave each copy in the
outbox for good; that is a configuration error, named at start with what to set.
"""

from __future__ import annotations

from collections.abc import Iterable

from agent.definition import Agent
from agent.places import as_declared, channel_of
from bot.errors import ConfigError
from bot.settings import Settings

HOW_TO_ENABLE = {
    "slack": "set SLACK_BOT_TOKEN (and SLACK_SIGNING_SECRET or SLACK_APP_TOKEN)",
    "email": "set SIGNOFF_EMAIL_ADDRESS, the IMAP and the SMTP settings",
}


def configured_channels(settings: Settings) -> list[str]:
    """The channels this deployment can deliver a request to."""
    return [name for name, on in (("slack", settings.slack_enabled), ("email", settings.email_enabled)) if on]


def unreachable_places(agent: Agent, channels: Iterable[str]) -> list[tuple[str, str]]:
    """('<where>: <place>', what to set) for each place of the agent or its gated tools that no
    configured channel serves."""
    configured = set(channels)
    declared = [(f"agent {agent.name}", agent.copies)]
    declared += [(f"tool {t.name}", t.copies) for t in agent.tools.values() if t.copies]
    return [
        (f"{where}: {as_declared(place)}", HOW_TO_ENABLE.get(channel_of(place), "configure that channel"))
        for where, places in declared
        for place in places or ()
        if channel_of(place) not in configured
    ]


def require_places(agents: Iterable[Agent], channels: Iterable[str]) -> None:
    """Raise ConfigError naming every place no configured channel can deliver to."""
    channels = list(channels)
    problems = [f"{place} ({fix})" for agent in agents for place, fix in unreachable_places(agent, channels)]
    if problems:
        raise ConfigError("requests are to be delivered where no channel is configured: " + "; ".join(problems))
