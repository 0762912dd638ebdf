"""Who a Slack user is, for the allowed-to-decide check: their user id plus the user groups they hold.

Approvers may be named as user ids (`U…`/`W…`) or user groups (`S…`). The core compares the clicker
and their `identities` against the request's allowed list (`Core.may_decide`, the one rule); this
module finds which of the groups named there contain the user (`usergroups.users.list`), with a
short cache so a burst of clicks costs one call per group. The clock is injected so the cache is
tested without sleeping.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Sequence

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

log = logging.getLogger(__name__)

GROUP_ID = re.compile(r"S[A-Z0-9]+")


class GroupMembership:
    def __init__(
        self, client: AsyncWebClient, *, ttl: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.client = client
        self.ttl = ttl
        self.clock = clock
        self._members: dict[str, tuple[float, frozenset[str]]] = {}

    async def identities(self, user: str, allowed: Sequence[str]) -> list[str]:
        """The user groups in `allowed` that `user` belongs to."""
        return await self.held_by_any([user], allowed)

    async def held_by_any(self, users: Sequence[str], allowed: Sequence[str]) -> list[str]:
        """The user groups in `allowed` that any of `users` (one person's Slack ids) belongs to."""
        held = []
        for group in dict.fromkeys(a for a in allowed if GROUP_ID.fullmatch(a)):
            if not (await self.members(group)).isdisjoint(users):
                held.append(group)
        return held

    async def members(self, group: str) -> frozenset[str]:
        cached = self._members.get(group)
        now = self.clock()
        if cached is not None and now - cached[0] < self.ttl:
            return cached[1]
        try:
            response = await self.client.usergroups_users_list(usergroup=group)
        except (SlackApiError, aiohttp.ClientError, TimeoutError) as exc:
            # Unknown group, no usergroups:read, Slack unreachable: nobody holds it (deny, never guess).
            log.warning("cannot list the members of user group %s: %s", group, _reason(exc))
            return frozenset()
        members = frozenset(str(u) for u in response.get("users") or [])
        self._members[group] = (now, members)
        return members


def _reason(exc: Exception) -> str:
    if isinstance(exc, SlackApiError):
        return str(exc.response.get("error"))
    return repr(exc)
