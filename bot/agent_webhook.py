"""An agent that lives elsewhere (`SIGNOFF_AGENT=webhook`): no built-in agent runs; what people
send the agent is posted to SIGNOFF_WEBHOOK_URL, the way HumanLayer posted it to the 12-factor
workshop's agent, and the agent answers through the API (`/humanlayer/v1`, `/api/questions`).

    a mail to the agent's address          `agent_email.received` (from_address, to_address,
                                           subject, body with quotes stripped, message_id, raw_email,
                                           previous_thread: the mails before it in its thread)
    a Slack mention, a DM, a reply in      `agent_slack.received` (thread_ts, channel_id, events:
    its thread                             the message, its author, its ts)

Each payload is an outbox row (channel `webhook`) written in the transaction that records the
message (`SignoffCore.receive_message`), so a crash never loses or doubles it; its Standard
Webhooks id derives from the message's delivery key, so a retry is recognisable as one. The
message's thread is `signoff:webhook`'s and waits (storage/event_log.py): no worker steps it.
The payloads are HumanLayer's models (`humanlayer.core.models_agent_webhook`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from agent.definition import Agent
from agent.events import HumanMessage
from channels.base import Origin
from channels.invisible import clean_inbound
from storage.event_log import OutboxDraft
from storage.status import WEBHOOK_AGENT
from storage.store import StoredEvent

WEBHOOK_SPEC = "webhook"  # SIGNOFF_AGENT's value for an agent that lives elsewhere
WEBHOOK_CHANNEL = "webhook"
MAX_RAW_CHARS = 1_000_000  # a payload's raw_email, at most (SIGNOFF_EMAIL_MAX_BYTES caps it before)
MAX_PREVIOUS = 20  # the earlier mails a payload's previous_thread carries, at most
MAX_PREVIOUS_CHARS = 20_000  # of each one's content


def webhook_agent() -> Agent[None]:
    """The stand-in for an agent that lives elsewhere: it has no tools and never runs."""
    return Agent(WEBHOOK_AGENT, description="an agent that lives elsewhere, reached by SIGNOFF_WEBHOOK_URL")


def event_id(receipt_key: str) -> str:
    """The Standard Webhooks id of the payload about the message recorded under `receipt_key`."""
    return "msg_" + hashlib.sha256(receipt_key.encode()).hexdigest()[:32]


def previous_mail(
    earlier: Sequence[StoredEvent], origin_data: Mapping[str, Any], agent_address: str
) -> list[dict[str, Any]]:
    """The mails people sent earlier in a thread, oldest first, as the SDK's `EmailMessage`s (the
    `previous_thread` of an `agent_email.received`): the last `MAX_PREVIOUS`, each cut to `MAX_PREVIOUS_CHARS`."""
    subject = str(origin_data.get("subject") or "")
    opening = f"Subject: {subject}\n\n" if subject else ""  # how a thread's first message is recorded
    mails: list[dict[str, Any]] = []
    for stored in earlier:
        event = stored.event
        if not isinstance(event, HumanMessage) or event.channel != "email":
            continue
        content = event.text.removeprefix(opening) if not mails else event.text
        mails.append(
            {
                "from_address": event.by,
                "to_address": [agent_address] if agent_address else [],
                "cc_address": [],
                "bcc_address": [],
                "subject": clean_inbound(subject),
                "content": content[:MAX_PREVIOUS_CHARS],
                "datetime": stored.created_at.isoformat(),
            }
        )
    return mails[-MAX_PREVIOUS:]


def inbound_drafts(
    *,
    receipt_key: str,
    origin: Origin,
    text: str,
    by: str,
    agent_address: str,
    details: Mapping[str, Any],
    previous: list[dict[str, Any]] | None = None,
) -> list[OutboxDraft]:
    """The webhook about one message (none for channels HumanLayer has no payload for); `previous`:
    the mails before it in its thread (`previous_mail`), for `agent_email.received`."""
    payload: dict[str, Any]
    if origin.channel == "email":
        raw = str(details.get("raw", ""))[:MAX_RAW_CHARS]
        payload = {
            "type": "agent_email.received",
            "is_test": False,
            "event": {
                "from_address": by,
                "to_address": str(details.get("to") or agent_address),
                "subject": clean_inbound(str(details.get("subject", ""))),
                "body": clean_inbound(str(details.get("body", text))),
                "message_id": str(details.get("message_id", "")),
                "previous_thread": previous or None,
                "raw_email": raw,
            },
        }
    elif origin.channel == "slack":
        _slack, team_channel_ts = receipt_key.split(":", 1)
        _team, channel, ts = team_channel_ts.rsplit(":", 2)
        payload = {
            "type": "agent_slack.received",
            "is_test": False,
            "event": {
                "thread_ts": str(origin.data.get("thread_ts") or ts),
                "channel_id": channel,
                "events": [{"from_user_id": by, "channel_id": channel, "content": text, "message_id": ts}],
            },
        }
    else:
        return []
    body = json.dumps({"id": event_id(receipt_key), "payload": payload}, separators=(",", ":"))
    return [OutboxDraft(WEBHOOK_CHANNEL, payload["type"], text=body)]
