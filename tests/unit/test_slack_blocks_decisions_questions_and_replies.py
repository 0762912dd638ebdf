"""Decided cards, the deny modal, questions and replies: valid Block Kit, inert untrusted text."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime

from channels.slack.blocks import (
    DENY_CALLBACK_ID,
    DENY_REASON_ACTION_ID,
    DENY_REASON_BLOCK_ID,
    decided_card,
    deny_modal,
    deny_reason_from,
    question_message,
    reply_message,
)
from tests.support.fake_slack import validate_blocks, validate_view
from tests.support.request_views import approval_view, question_view
from tests.support.slack_requests import view_submission

APPROVAL = approval_view(
    tool="deploy",
    arguments={"service": "web", "version": "1.4.2"},
    reason="Release train.",
    allowed=["U0BOB"],
    requested_by="U0ALICE",
)
QUESTION = question_view(
    id="req-2",
    question="Which region first? <!channel>",
    options=["eu-west", "us-east <@U999>"],
    requested_by="U0ALICE",
)
AT = datetime(2025, 3, 4, 12, 30, tzinfo=UTC)


def test_decided_card_has_no_buttons_and_says_who_decided_when() -> None:
    card = decided_card(APPROVAL, "approved", "U0BOB", AT, "")
    assert validate_blocks(card["blocks"]) == []
    assert all(b["type"] != "actions" for b in card["blocks"])
    context = card["blocks"][-1]["elements"][0]["text"]
    assert context.startswith(":white_check_mark: *Approved* by <@U0BOB> at <!date^1741091400^")
    assert context.endswith("|2025-03-04 12:30 UTC>")
    assert "deploy" in json.dumps(card["blocks"]) and card["text"].startswith("Approved by <@U0BOB>")


def test_denied_card_shows_the_reason_escaped() -> None:
    card = decided_card(APPROVAL, "denied", "U0BOB", AT, "not now <!here>")
    assert validate_blocks(card["blocks"]) == []
    text = json.dumps(card["blocks"]) + card["text"]
    assert "not now &lt;!here&gt;" in text and "<!here>" not in text
    assert card["blocks"][0]["text"]["text"] == ":no_entry: Denied: deploy"


def test_an_unknown_outcome_or_decider_is_escaped() -> None:
    card = decided_card(APPROVAL, "<!channel>", "mallory <!here>", AT, "")
    assert validate_blocks(card["blocks"]) == []
    assert "<!channel>" not in card["blocks"][-1]["elements"][0]["text"]
    assert "<!here>" not in json.dumps(card)


def test_naive_times_are_taken_as_utc() -> None:
    card = decided_card(APPROVAL, "expired", "", datetime(2025, 3, 4, 12, 30), "")
    assert card["blocks"][-1]["elements"][0]["text"] == (
        ":hourglass: *Expired* at <!date^1741091400^{date_short_pretty} at {time}|2025-03-04 12:30 UTC>"
    )


def test_deny_modal_asks_for_a_reason_bound_to_the_request() -> None:
    view = deny_modal("req-1")
    assert validate_view(view) == []
    assert (view["callback_id"], view["private_metadata"], view["submit"]["text"]) == (
        DENY_CALLBACK_ID,
        "req-1",
        "Deny",
    )
    [block] = view["blocks"]
    assert (block["block_id"], block["element"]["action_id"], block["element"]["multiline"]) == (
        DENY_REASON_BLOCK_ID,
        DENY_REASON_ACTION_ID,
        True,
    )


def test_deny_reason_is_read_from_a_submitted_modal() -> None:
    payload = view_submission(DENY_CALLBACK_ID, "req-1", {DENY_REASON_BLOCK_ID: {DENY_REASON_ACTION_ID: " not now "}})
    assert deny_reason_from(payload["view"]) == "not now"
    assert deny_reason_from({"state": {"values": {}}}) == ""


def test_question_says_to_reply_in_the_thread_and_lists_options() -> None:
    message = question_message(QUESTION)
    assert validate_blocks(message["blocks"]) == []
    text = json.dumps(message["blocks"], ensure_ascii=False)
    assert "Reply in this thread" in text
    assert "• eu-west" in text and "• us-east &lt;@U999&gt;" in text
    assert "<!channel>" not in text + message["text"] and "Which region first?" in message["text"]
    assert "anyone in this conversation" in text


def test_decided_question_shows_the_question() -> None:
    card = decided_card(QUESTION, "answered", "U0BOB", AT, "eu-west")
    assert validate_blocks(card["blocks"]) == []
    assert "Which region first?" in json.dumps(card["blocks"])


def test_reply_keeps_formatting_but_not_mentions() -> None:
    assert reply_message("*Done.* <!channel> restarted `payments` & <http://x|y>") == {
        "text": "*Done.* &lt;!channel&gt; restarted `payments` &amp; &lt;http://x|y&gt;"
    }
    assert len(reply_message("z" * 100_000)["text"]) <= 39_000
    assert reply_message("\u200b")["text"].strip()


def test_a_question_without_options_has_no_options_section() -> None:
    message = question_message(replace(QUESTION, options=[]))
    assert "*Options*" not in json.dumps(message["blocks"])
