"""In: Slack messages the bot should hear, turned into the core's `receive_message` or `answer`.

Heard: an `app_mention` anywhere (outside a thread it starts one), a direct message, and a reply
in a thread the bot is part of. Not heard: the bot's own messages, other bots, edits, deletions
and other message subtypes.

A conversation is keyed `team:channel:thread_ts` (the thread's root ts). Each message is recorded
once under `slack:team:channel:ts`: a Slack retry of the same event (`X-Slack-Retry-Num`) and the
`app_mention` + `message.channels` pair Slack sends for one message that mentions the bot in a
thread carry the same message, so neither ever becomes a second event. The record is written
before the listener returns, and so before Slack gets its 200: a delivery that failed to record
gets a 5xx and Slack sends it again. A message outside a thread (a mention, a DM) opens its own
conversation: its record is one INSERT (`Core.open_conversation`) and its thread is built after
the ack.

A reply in a thread with a pending question, from someone allowed to answer it, is the answer; so is
a reply in a Slack thread a question was posted into (HumanLayer's `thread_ts`), even when that
thread is another conversation's.
A reply from anyone else stays an ordinary message of the thread, and its author is told privately
(an ephemeral message, once per message) that it answered nothing and who may answer.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from channels.base import Core, HumanRequestView, Origin, Proof
from channels.invisible import clean_inbound
from channels.slack import notes
from channels.slack._background import Background
from channels.slack.identity import GroupMembership

# Message subtypes a human's message can have; everything else (edits, joins, bot posts) is ignored.
HUMAN_SUBTYPES = frozenset({None, "thread_broadcast", "file_share"})


@dataclass(frozen=True)
class SlackMessage:
    team: str
    channel: str
    ts: str
    thread_ts: str | None
    user: str
    text: str
    channel_type: str

    @property
    def conversation(self) -> str:
        return f"{self.team}:{self.channel}:{self.thread_ts or self.ts}"

    @property
    def receipt_key(self) -> str:
        return f"slack:{self.team}:{self.channel}:{self.ts}"

    def origin(self) -> Origin:
        data = {"channel": self.channel, "thread_ts": self.thread_ts or self.ts, "team": self.team}
        return Origin("slack", self.conversation, data)


def from_human(body: Mapping[str, Any], event: Mapping[str, Any], bot_user_id: str | None) -> SlackMessage | None:
    """The message a human wrote, with mentions of the bot removed; None for anything else."""
    user = event.get("user")
    if (
        event.get("bot_id")
        or event.get("subtype") not in HUMAN_SUBTYPES
        or event.get("hidden")
        or not isinstance(user, str)
        or not user
        or user == bot_user_id
    ):
        return None
    text = clean_inbound(str(event.get("text") or ""))
    if bot_user_id:
        text = re.sub(rf"<@{re.escape(bot_user_id)}(?:\|[^>]*)?>", " ", text)
    text = text.strip()
    channel, ts = event.get("channel"), event.get("ts")
    if not text or not channel or not ts:
        return None
    thread_ts = event.get("thread_ts")
    return SlackMessage(
        team=str(body.get("team_id") or event.get("team") or ""),
        channel=str(channel),
        ts=str(ts),
        thread_ts=str(thread_ts) if thread_ts else None,
        user=user,
        text=text,
        channel_type=str(event.get("channel_type") or ("im" if str(channel).startswith("D") else "channel")),
    )


class Inbound:
    def __init__(self, core: Core, groups: GroupMembership, client: AsyncWebClient, background: Background) -> None:
        self.core = core
        self.groups = groups
        self.client = client
        self.background = background

    async def mention(self, body: Mapping[str, Any], event: Mapping[str, Any], bot_user_id: str | None) -> None:
        message = from_human(body, event, bot_user_id)
        if message is not None:
            await self.record(message)

    async def message(self, body: Mapping[str, Any], event: Mapping[str, Any], bot_user_id: str | None) -> None:
        message = from_human(body, event, bot_user_id)
        if message is None:
            return
        if message.channel_type == "im":
            await self.record(message)
        elif message.thread_ts and await self.core.thread_for("slack", message.conversation) is not None:
            # (a Slack thread a question was posted into counts: `thread_for` finds that question's thread)
            await self.record(message)
        # Anything else in a channel is for the humans there; a mention arrives as app_mention.

    async def record(self, message: SlackMessage) -> None:
        if message.thread_ts is None:  # a top-level message is its own thread's root: nothing to look up
            await self.core.open_conversation(
                receipt_key=message.receipt_key, origin=message.origin(), text=message.text, by=message.user
            )
            return
        thread_id = await self.core.thread_for("slack", message.conversation)
        refusal: str | None = None
        # The conversation's own thread, then those whose questions were posted into this Slack thread.
        asking = await self.core.threads_asking_in(message.channel, message.thread_ts)
        for candidate in dict.fromkeys([*([thread_id] if thread_id else []), *asking]):
            answered, told = await self._answer(candidate, message)
            if answered:
                return
            refusal = refusal or told
        recorded = await self.core.receive_message(
            receipt_key=message.receipt_key, origin=message.origin(), text=message.text, by=message.user
        )
        if refusal is not None and recorded is not None:  # not for a redelivery of the same message
            self.background.spawn(self._tell(message, refusal), "ephemeral")

    async def _answer(self, thread_id: str, message: SlackMessage) -> tuple[bool, str | None]:
        """Whether the message answered a pending question; if not, what to tell its author (a
        question they may not answer, or an answer that is none of a closed question's options)."""
        refused: HumanRequestView | None = None
        not_an_option: str | None = None
        for request in await self.core.pending_requests(thread_id):
            if request.kind != "question":
                continue
            identities = await self.groups.identities(message.user, request.allowed)
            if not self.core.may_decide(request.allowed, [message.user, *identities]):
                refused = refused or request
                continue
            decision = await self.core.answer(
                request.id,
                answer=message.text,
                by=message.user,
                receipt_key=message.receipt_key,
                identities=identities,
                proof=Proof("slack", "slack", {"user": message.user, "team": message.team}),
            )
            if decision.status == "accepted":
                return True, None
            if decision.status == "not_an_option":
                not_an_option = notes.refused(decision.message)
            refused = None  # one they may answer, decided meanwhile or a replay: nothing to tell
        # Not an answer (or a replay of one): an ordinary message, recorded once by its key.
        if not_an_option is not None:
            return False, not_an_option
        return False, notes.not_an_answerer(refused) if refused is not None else None

    async def _tell(self, message: SlackMessage, text: str) -> None:
        await self.client.chat_postEphemeral(
            channel=message.channel, user=message.user, text=text, thread_ts=message.thread_ts
        )
