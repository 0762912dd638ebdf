"""Who the web inbox knows: who may sign in, and what a signed-in person may decide or answer.

Until the people directory lands, a person is an email address: one that may approve or answer
something here (SIGNOFF_APPROVERS, the agent's and its tools' approvers, the agent's answerers)
may sign in by a link mailed to it, and decides as that address, through the same check as every
other surface (`Store.resolve`: the request's allowed list).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from agent.definition import Agent
from agent.policy import allows
from bot.identity import SLACK_GROUP
from storage.models import RequestRow
from storage.people import SLACK_ID

if TYPE_CHECKING:
    from bot.core import GroupLookup

_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def ascii_lower(text: str) -> str:
    """Lower case for ASCII letters only: `str.lower` folds look-alikes (the Kelvin sign) into letters."""
    return text.translate(_ASCII_LOWER)


@dataclass(frozen=True)
class Viewer:
    """The signed-in person: the names they act as (`by` first), and how they signed in."""

    by: str
    how: str  # "link": a link mailed to `by`; "token": a personal token
    signin_id: str
    identities: tuple[str, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        return (self.by, *self.identities)


async def with_groups(viewer: Viewer, rows: Iterable[RequestRow], lookup: GroupLookup | None) -> Viewer:
    """The viewer, holding also the Slack user groups named by these requests that their Slack ids
    belong to (looked up where Slack is configured), so a group's members see its requests' forms."""
    groups = sorted({a for row in rows for a in row.allowed if SLACK_GROUP.fullmatch(a)} - set(viewer.names))
    users = [name for name in viewer.names if SLACK_ID.fullmatch(name)]
    if lookup is None or not groups or not users:
        return viewer
    held = await lookup(users, groups)
    return replace(viewer, identities=(*viewer.identities, *held)) if held else viewer


def may_answer(allowed: Iterable[str], viewer: Viewer) -> bool:
    """The rule `Store.resolve` applies (`agent.policy.allows`), for the signed-in viewer."""
    return allows(allowed, viewer.names)


def sign_in_addresses(agent: Agent, default_approvers: Iterable[str]) -> frozenset[str]:
    """The email addresses that may sign in by a mailed link: everyone named to decide or answer."""
    names: list[str] = [*default_approvers, *agent.approvers, *getattr(agent, "answerers", ())]
    for tool in agent.tools.values():
        names.extend(getattr(tool, "approvers", None) or ())
    return frozenset(ascii_lower(n.strip()) for n in names if isinstance(n, str) and "@" in n.strip()[1:])
