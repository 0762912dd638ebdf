"""What an agent that lives elsewhere is sent about a message parses with the `humanlayer` SDK's own
webhook models, carries one id per delivery key, and nothing is made for channels HumanLayer has
no payload for."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from humanlayer.core.models_agent_webhook import V1Beta2EmailEventReceived, V1Beta2SlackEventReceived

from agent.events import HumanMessage
from bot.agent_webhook import WEBHOOK_CHANNEL, event_id, inbound_drafts, previous_mail
from channels.base import Origin
from storage.store import StoredEvent


def test_an_email_becomes_agent_email_received() -> None:
    details = {
        "subject": "Deploy\u200b it",
        "body": "Please deploy.",
        "message_id": "<m1@corp.example>",
        "to": "agent@example.test",
        "raw": "Message-ID: <m1@corp.example>\r\n\r\nPlease deploy.",
    }
    origin = Origin("email", "<m1@corp.example>", {"subject": "Deploy it"})
    [draft] = inbound_drafts(
        receipt_key="email:<m1@corp.example>",
        origin=origin,
        text="Subject: Deploy it\n\nPlease deploy.",
        by="bob@corp.example",
        agent_address="agent@example.test",
        details=details,
    )
    stored = json.loads(draft.text)
    assert (draft.channel, draft.kind, stored["id"]) == (
        WEBHOOK_CHANNEL,
        "agent_email.received",
        event_id("email:<m1@corp.example>"),
    )
    received = V1Beta2EmailEventReceived.model_validate(stored["payload"])
    assert received.event.subject == "Deploy it"  # hidden characters gone, as from every inbound text
    assert (received.event.from_address, received.event.to_address) == ("bob@corp.example", "agent@example.test")
    assert received.event.body == "Please deploy." and received.event.raw_email == details["raw"]


def test_a_slack_message_becomes_agent_slack_received_in_its_thread() -> None:
    origin = Origin("slack", "T1:C0OPS:1700000000.000100", {"channel": "C0OPS", "thread_ts": "1700000000.000100"})
    [draft] = inbound_drafts(
        receipt_key="slack:T1:C0OPS:1700000000.000200",
        origin=origin,
        text="and search?",
        by="U0BOB",
        agent_address="",
        details={},
    )
    received = V1Beta2SlackEventReceived.model_validate(json.loads(draft.text)["payload"])
    assert (received.event.thread_ts, received.event.channel_id) == ("1700000000.000100", "C0OPS")
    [message] = received.event.events
    assert (message.from_user_id, message.content, message.message_id) == ("U0BOB", "and search?", "1700000000.000200")


def test_ids_follow_the_delivery_key_and_other_channels_make_nothing() -> None:
    assert event_id("slack:T1:C1:1.1") == event_id("slack:T1:C1:1.1") != event_id("slack:T1:C1:1.2")
    assert (
        inbound_drafts(
            receipt_key="api:k", origin=Origin("api", "t1"), text="hi", by="api", agent_address="", details={}
        )
        == []
    )


def test_a_mail_later_in_a_thread_carries_the_earlier_ones_as_previous_thread() -> None:
    at = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
    earlier = [
        StoredEvent(
            1, HumanMessage(text="Subject: Deploy it\n\nPlease deploy.", by="bob@corp.example", channel="email"), at
        ),
        StoredEvent(2, HumanMessage(text="from slack", by="U0BOB", channel="slack"), at),
        StoredEvent(3, HumanMessage(text="And the docs.", by="carol@corp.example", channel="email"), at),
    ]
    previous = previous_mail(earlier, {"subject": "Deploy it"}, "agent@example.test")
    [draft] = inbound_drafts(
        receipt_key="email:<m3@corp.example>",
        origin=Origin("email", "<m1@corp.example>"),
        text="Thanks!",
        by="bob@corp.example",
        agent_address="agent@example.test",
        details={"subject": "Re: Deploy it", "body": "Thanks!", "message_id": "<m3@corp.example>", "raw": ""},
        previous=previous,
    )
    received = V1Beta2EmailEventReceived.model_validate(json.loads(draft.text)["payload"])
    thread = received.event.previous_thread
    assert thread is not None
    assert [(m.from_address, m.content, m.subject) for m in thread] == [
        ("bob@corp.example", "Please deploy.", "Deploy it"),
        ("carol@corp.example", "And the docs.", "Deploy it"),
    ]
    assert thread[0].to_address == ["agent@example.test"] and thread[0].datetime == at.isoformat()
    assert previous_mail([], {}, "agent@example.test") == []
