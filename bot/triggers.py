"""Where a trigger's thread lives: nobody is "in the thread" when a webhook or a schedule starts it,
so it asks its humans on the channel its entry names (`ask = "slack:C0ONCALL"` or
`"email:oncall@example.com"`): its replies, cards and questions are posted there, as top-level
messages (Slack) or a new mail thread (email). Without `ask` it is silent, like an API thread.
An `ask` address takes part in the thread as if it had written (`trigger_humans`): it may answer
the agent's questions (with the agent's default answerers). A Slack channel names no one: there,
the approvers answer, or whoever the agent's `answerers` name.
"""

from __future__ import annotations

from bot.deployment import parse_ask
from channels.base import Origin

HOOK_CHANNEL = "hook"
SCHEDULE_CHANNEL = "schedule"


def trigger_origin(kind: str, name: str, key: str, ask: str | None, subject: str) -> Origin:
    """The origin of a thread started by trigger `kind` (`hook`, `schedule`) `name`, conversation `key`."""
    data: dict[str, object] = {"trigger": f"{kind}:{name}"}
    if ask is None:
        return Origin(kind, f"{kind}:{name}:{key}", data)
    channel, where = parse_ask(ask)
    data["standalone"] = True  # no conversation to answer in: posts go to the channel itself
    if channel == "slack":
        data["channel"] = where
    else:
        data.update(subject=subject[:200], participants=[where.lower()], references=[])
    return Origin(channel, f"{kind}:{name}:{key}", data)


def trigger_humans(ask: str | None) -> list[str]:
    """The people a trigger's messages speak for: its `ask` address, if it is one."""
    if ask is None:
        return []
    channel, where = parse_ask(ask)
    return [where.lower()] if channel == "email" else []
