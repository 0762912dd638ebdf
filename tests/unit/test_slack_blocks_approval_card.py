"""The approval card shows what will run, with which arguments, why, for whom, and two buttons."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from channels.slack.blocks import (
    APPROVE_ACTION_ID,
    DENY_ACTION_ID,
    ELLIPSIS,
    MAX_ARGUMENT_SECTIONS,
    approval_card,
    units,
)
from tests.support.fake_slack import validate_blocks
from tests.support.request_views import approval_view

REQUEST = approval_view(
    id="req-7f3a",
    arguments={"name": "payments", "force": True},
    reason="The payments worker stopped consuming the queue.",
    allowed=["U0APPROVER", "S0ONCALL"],
    requested_by="U0ALICE",
)


def all_text(blocks: list[dict[str, Any]]) -> str:
    return json.dumps(blocks, ensure_ascii=False)


def buttons(card: dict[str, Any]) -> list[dict[str, Any]]:
    [actions] = [b for b in card["blocks"] if b["type"] == "actions"]
    elements: list[dict[str, Any]] = actions["elements"]
    return elements


def test_card_is_valid_block_kit_with_a_text_fallback() -> None:
    card = approval_card(REQUEST, "https://signoff-test.slack.com/archives/C1/p1700000000000100")
    assert validate_blocks(card["blocks"]) == []
    assert "restart_service" in card["text"] and "<@U0ALICE>" in card["text"]


def test_card_shows_tool_arguments_reason_requester_and_approvers() -> None:
    card = approval_card(REQUEST, None)
    assert card["blocks"][0] == {
        "type": "header",
        "text": {"type": "plain_text", "text": "Approval needed: restart_service", "emoji": True},
    }
    text = all_text(card["blocks"])
    assert "`restart_service`" in text
    assert 'name = \\"payments\\"' in text and "force = true" in text
    assert "```" in text
    assert ">The payments worker stopped consuming the queue." in text
    assert "<@U0ALICE>" in text
    assert "<@U0APPROVER>, <!subteam^S0ONCALL>" in text


def test_buttons_approve_and_deny_carry_the_request_id() -> None:
    approve, deny = buttons(approval_card(REQUEST, None))
    assert (approve["action_id"], approve["style"], approve["value"]) == (APPROVE_ACTION_ID, "primary", "req-7f3a")
    assert (deny["action_id"], deny["style"], deny["value"]) == (DENY_ACTION_ID, "danger", "req-7f3a")


def test_anyone_may_approve_when_nobody_is_named() -> None:
    card = approval_card(replace(REQUEST, allowed=[]), None)
    assert "anyone in this conversation" in all_text(card["blocks"])


def test_injected_mentions_and_links_in_arguments_and_reason_are_inert() -> None:
    request = replace(
        REQUEST,
        arguments={"name": "<!channel> <http://evil.example|payments>"},
        reason="<!here> urgent, see <http://evil.example|the runbook> ```",
        requested_by="<!everyone>",
    )
    card = approval_card(request, None)
    text = all_text(card["blocks"]) + card["text"]
    for bad in ("<!channel>", "<!here>", "<!everyone>", "<http://evil"):
        assert bad not in text
    assert "&lt;!channel&gt;" in text and "&lt;http://evil.example|the runbook&gt;" in text


def test_backticks_in_arguments_cannot_close_the_code_block() -> None:
    card = approval_card(replace(REQUEST, arguments={"cmd": "```*bold* <@U1>```"}), None)
    [args] = [b for b in card["blocks"] if b.get("text", {}).get("text", "").startswith("*Arguments*")]
    body = args["text"]["text"]
    assert body.count("```") == 2 and body.endswith("```")


def test_hidden_characters_in_arguments_are_shown_and_flagged() -> None:
    card = approval_card(replace(REQUEST, arguments={"name": "pay\u200bments\U000e0041"}), None)
    text = all_text(card["blocks"])
    assert "pay⟨U+200B⟩ments⟨U+E0041⟩" in text
    assert "hard to see" in text


def test_a_long_argument_is_cut_within_limits_and_says_so() -> None:
    card = approval_card(replace(REQUEST, arguments={"script": "x" * 20_000, "name": "payments"}), None)
    assert validate_blocks(card["blocks"]) == []
    text = all_text(card["blocks"])
    assert ELLIPSIS + " (+" in text and "more characters)" in text
    assert 'name = \\"payments\\"' in text  # a long argument does not hide the others
    assert "shortened" in text
    assert all(units(b["text"]["text"]) <= 3000 for b in card["blocks"] if b["type"] == "section" and "text" in b)


def test_many_arguments_stay_within_the_block_limit() -> None:
    arguments = {f"arg{i}": "y" * 2500 for i in range(200)}
    card = approval_card(replace(REQUEST, arguments=arguments, reason="r" * 10_000), None)
    assert validate_blocks(card["blocks"]) == []
    sections = [b for b in card["blocks"] if "```" in b.get("text", {}).get("text", "")]
    assert len(sections) == MAX_ARGUMENT_SECTIONS
    assert "more argument(s) are not shown" in all_text(card["blocks"])
    assert units(card["text"]) <= 1000


def test_no_arguments_is_said_plainly() -> None:
    assert "_none_" in all_text(approval_card(replace(REQUEST, arguments={}), None)["blocks"])


def test_thread_link_is_rendered_and_must_be_http() -> None:
    card = approval_card(REQUEST, "https://signoff-test.slack.com/archives/C1/p1?thread_ts=1.2&cid=C1")
    assert "<https://signoff-test.slack.com/archives/C1/p1?thread_ts=1.2&amp;cid=C1|Open the conversation>" in (
        all_text(card["blocks"])
    )
    with pytest.raises(ValueError):
        approval_card(REQUEST, "javascript:alert(1)")


def test_an_id_too_long_for_a_button_value_is_refused() -> None:
    with pytest.raises(ValueError):
        approval_card(replace(REQUEST, id="r" * 2001), None)
