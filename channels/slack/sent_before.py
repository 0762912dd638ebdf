"""Recognise a message an outbox row already posted, so a retry after a crash does not post it twice.

chat.postMessage has no idempotency key. Every post carries Slack message metadata naming the
outbox row, the thread and the part of the row it is (`message`: the row's own message; `note`:
the extra note in the origin thread when a card lives elsewhere):

    {"event_type": "signoff_outbox", "event_payload": {"outbox_id": 12, "thread_id": "...", "part": "message"}}

Posting metadata needs no scope. Reading it back (`include_all_metadata`) needs the history scope
of the conversation's kind, which the app has for the events it listens to. Only a row that was
attempted before is looked up: in its Slack thread (conversations.replies, oldest first) or, for a
top-level post, in the channel (conversations.history, newest first), a few pages at most.
"""

from __future__ import annotations

from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

EVENT_TYPE = "signoff_outbox"
PAGE = 200
MAX_PAGES = 5


def outbox_metadata(outbox_id: int, thread_id: str, part: str) -> dict[str, Any]:
    return {"event_type": EVENT_TYPE, "event_payload": {"outbox_id": outbox_id, "thread_id": thread_id, "part": part}}


def is_ours(message: dict[str, Any], marker: dict[str, Any]) -> bool:
    metadata = message.get("metadata") or {}
    return metadata.get("event_type") == EVENT_TYPE and metadata.get("event_payload") == marker["event_payload"]


async def find_post(client: AsyncWebClient, channel: str, thread_ts: str | None, marker: dict[str, Any]) -> str | None:
    """The ts of the message carrying `marker` in that thread (or channel, when `thread_ts` is None)."""
    cursor: str | None = None
    for _ in range(MAX_PAGES):
        if thread_ts is None:
            response = await client.conversations_history(
                channel=channel, include_all_metadata=True, limit=PAGE, cursor=cursor
            )
        else:
            response = await client.conversations_replies(
                channel=channel, ts=thread_ts, include_all_metadata=True, limit=PAGE, cursor=cursor
            )
        for message in response.get("messages") or []:
            if isinstance(message, dict) and is_ours(message, marker):
                return str(message["ts"])
        cursor = (response.get("response_metadata") or {}).get("next_cursor") or None
        if not response.get("has_more") or not cursor:
            return None
    return None
