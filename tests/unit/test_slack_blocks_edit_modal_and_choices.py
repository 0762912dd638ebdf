"""The Edit button, the edit modal and a question's option buttons: valid Block Kit (as the fake
Web API checks it), untrusted names and values inert, and what was typed read back by name."""

from __future__ import annotations

import json
from dataclasses import replace

from channels.base import EditField
from channels.slack.blocks import (
    EDIT_ACTION_ID,
    EDIT_CALLBACK_ID,
    approval_card,
    can_edit,
    edit_errors,
    edit_modal,
    edit_values_from,
    question_message,
)
from tests.support.fake_slack import validate_blocks, validate_view
from tests.support.request_views import approval_view
from tests.support.slack_requests import view_submission

FIELDS = [
    EditField("service", "choice", True, "web", "The service <!channel>", ("web", "search")),
    EditField("replicas", "integer", True, "2"),
    EditField("dry_run", "boolean", False, "false"),
    EditField("labels", "json", False, '{"team": "<@U999>"}', nullable=True),
]
REQUEST = approval_view(
    tool="scale",
    arguments={"service": "web", "replicas": 2, "dry_run": False, "labels": {"team": "<@U999>"}},
    reason="load",
    edit_fields=FIELDS,
)


def test_the_card_offers_edit_only_where_an_edit_would_be_taken() -> None:
    card = approval_card(REQUEST)
    assert validate_blocks(card["blocks"]) == []
    ids = [e["action_id"] for b in card["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert ids == ["signoff_approve", EDIT_ACTION_ID, "signoff_deny"]
    for closed in (
        replace(REQUEST, edit_fields=[]),
        replace(REQUEST, required=2, approved_by=["alice"]),
        replace(REQUEST, edit_fields=[replace(FIELDS[1], value="9" * 3001)]),
    ):
        assert not can_edit(closed)
        assert EDIT_ACTION_ID not in json.dumps(approval_card(closed)["blocks"])


def test_the_modal_is_valid_prefilled_and_read_back() -> None:
    view = edit_modal(REQUEST)
    assert validate_view(view) == [] and view["callback_id"] == EDIT_CALLBACK_ID and view["private_metadata"] == "req-1"
    inputs = {b["block_id"]: b for b in view["blocks"] if b["type"] == "input"}
    assert inputs["arg:service"]["element"]["initial_option"]["value"] == "web"
    assert inputs["arg:replicas"]["element"]["initial_value"] == "2" and inputs["arg:replicas"]["optional"] is False
    assert inputs["arg:labels"]["element"]["multiline"] is True and inputs["arg:labels"]["optional"] is True
    assert inputs["arg:service"]["hint"]["type"] == "plain_text"  # untrusted text shown literally, never as mrkdwn
    state = {
        "arg:service": {"value": {"type": "static_select", "selected_option": {"value": "search"}}},
        "arg:replicas": {"value": " 4 "},
        "arg:labels": {"value": {"type": "plain_text_input", "value": None}},
        "signoff_other": {"value": "ignored"},
    }
    submitted = view_submission(EDIT_CALLBACK_ID, "req-1", state)["view"]
    assert edit_values_from(submitted) == {"service": "search", "replicas": " 4 ", "labels": ""}
    errors = edit_errors({"replicas": "not a whole number", "arguments": "too long"}, ["service", "replicas"])
    assert errors == {
        "response_action": "errors",
        "errors": {"arg:replicas": "not a whole number", "arg:service": "too long"},
    }


def test_a_question_shows_its_options_as_buttons() -> None:
    question = replace(
        REQUEST,
        kind="question",
        tool=None,
        question="Which region?",
        options=[f"region {n} <!here>" for n in range(1, 8)],
        edit_fields=[],
        allow_free_text=False,
    )
    message = question_message(question)
    assert validate_blocks(message["blocks"]) == []
    buttons = [e for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert [b["action_id"] for b in buttons] == [f"signoff_choice_{n}" for n in range(1, 8)]
    assert {b["value"] for b in buttons} == {"req-1"}
    assert {b["text"]["type"] for b in buttons} == {"plain_text"}  # an option is shown literally, never as mrkdwn
    assert "Pick an answer" in json.dumps(message["blocks"])
    assert "Reply in this thread" in json.dumps(question_message(replace(question, allow_free_text=True))["blocks"])
