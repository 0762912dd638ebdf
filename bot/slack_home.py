"""What a Slack user's Home tab and `/signoff pending` show, read from the database on each build.

A person is their Slack user id, the names their directory entry gives them (`bot.identity`) and
the user groups they hold; a request is listed when they may decide or answer it under the one rule
every surface applies (`agent.policy.allows`), so nobody sees controls they could not use. Nothing
is kept in memory but permalinks (facts about Slack messages that never change), so any replica
builds the same tab.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from agent.policy import allows
from bot.identity import held_by
from bot.views import request_view
from channels.base import HumanRequestView
from channels.slack.blocks import escape, link
from channels.slack.home import HomeFacts, OwnThread, WaitingItem, short_arguments
from channels.slack.home_publish import Permalinks
from channels.slack.identity import GroupMembership
from storage.async_store import AsyncStore
from storage.models import ThreadRow

SCAN = 500  # pending requests looked at per build, oldest first
SHOWN = 25  # at most this many are built with their links (the tab holds about 22)


def _nothing() -> None:
    return None


class SlackHome:
    """The `HomeSource` of channels/slack/commands.py; `wake` tells the publisher a tab is due."""

    def __init__(
        self,
        storage: AsyncStore,
        groups: GroupMembership,
        permalinks: Permalinks,
        *,
        inbox_url: str | None = None,
    ) -> None:
        self.storage = storage
        self.groups = groups
        self.permalinks = permalinks
        self.inbox_url = inbox_url
        self.wake: Callable[[], None] = _nothing

    async def opened(self, user: str, team: str) -> None:
        await self.storage.run(self.storage.store.home_opened, user, team)
        self.wake()

    async def _names(self, user: str) -> list[str]:
        people = await self.storage.people_for([user])
        return held_by(user, people.get(user))

    async def facts(self, user: str, team: str) -> HomeFacts:
        names = await self._names(user)
        read = await self.storage.run(self.storage.store.home_facts, names, scan=SCAN)
        people = await self.storage.people_for([a for r, _ in read.pending for a in r.allowed])
        waiting: list[WaitingItem] = []
        total = 0
        for row, thread in read.pending:
            view = request_view(row, people)
            groups = await self.groups.identities(user, view.allowed)
            if not allows(view.allowed, [*names, *groups]):
                continue
            total += 1
            if len(waiting) < SHOWN:
                thread_link = await self._thread_link(thread)
                reminders = read.reminders.get(row.id, 0)
                waiting.append(WaitingItem(view, thread.agent, row.created_at, reminders, thread_link))
        # Requests past the scan are not looked at: each may be theirs, so the count says "at least".
        total += max(read.pending_total - len(read.pending), 0)
        own = [OwnThread(t.id, t.status, t.agent, t.created_at, await self._thread_link(t)) for t in read.own_threads]
        return HomeFacts(waiting, total, own, read.own_total, read.pending_total, self.inbox_url)

    async def _thread_link(self, thread: ThreadRow) -> str | None:
        data = thread.origin_data or {}
        channel, ts = data.get("channel"), data.get("thread_ts")
        if thread.origin_channel != "slack" or not isinstance(channel, str) or not isinstance(ts, str):
            return None
        return await self.permalinks.of(channel, ts)

    async def thread_status(self, user: str, thread_id: str) -> str | None:
        thread = await self.storage.get_thread(thread_id)
        if thread is None:
            return None
        names = await self._names(user)
        requests = await self.storage.list_requests(thread_id=thread_id, limit=50)
        people = await self.storage.people_for([a for r in requests for a in r.allowed])
        views = [request_view(r, people) for r in requests]
        mine = allows([thread.requested_by], names) if thread.requested_by else False
        if not mine:
            for view in views:
                if view.allowed and allows(view.allowed, [*names, *await self.groups.identities(user, view.allowed)]):
                    mine = True
                    break
        if not mine:
            return None  # unknown and foreign threads read alike: no way to probe for ids
        return status_text(thread, [v for v in views if v.status == "pending"], await self._thread_link(thread))


def status_text(thread: ThreadRow, pending: Sequence[HumanRequestView], thread_link: str | None) -> str:
    """`/signoff status`: the thread's status, agent, age, and what it waits for."""
    lines = [
        f"*Thread* `{escape(thread.id, 80)}` is *{escape(thread.status, 20)}* (agent {escape(thread.agent, 100)}, "
        f"started {thread.created_at.strftime('%Y-%m-%d %H:%M UTC')})"
    ]
    for request in pending[:10]:
        if request.kind == "approval":
            lines.append(f"• waiting for approval: *{escape(request.tool or '?', 100)}* {short_arguments(request)}")
        else:
            lines.append(f"• waiting for an answer: {escape(' '.join(request.question.split()), 200)}")
    if thread_link:
        lines.append(link(thread_link, "Open the thread"))
    return "\n".join(lines)
