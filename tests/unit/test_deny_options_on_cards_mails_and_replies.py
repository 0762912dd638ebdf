"""An approval's named ways to deny (HumanLayer's `reject_options`): a button each on the Slack
card, a modal prefilled for one that asks for a comment, numbered in the mail, and picked by a
reply's number or text (never read as an approval)."""

from __future__ import annotations

import pytest

from channels.base import DenyChoice, HumanRequestView
from channels.email.answers import read_deny_option
from channels.email.compose import deny_option_lines
from channels.slack.blocks import approval_card, deny_modal, deny_modal_target
from tests.support.request_views import approval_view

LABELS = ["Not during the freeze", "Explain first"]


def approval(*options: DenyChoice) -> HumanRequestView:
    return approval_view(
        id="r1", thread_id="t1", tool="deploy", arguments={"version": "6"}, requested_by="run-1", deny_options=options
    )


FREEZE = DenyChoice("freeze", "Not during the freeze", "after the freeze", ask=False)
WHY = DenyChoice("why", "Explain <!channel> first", "Tell me why", ask=True)


@pytest.mark.parametrize(
    ("reply", "picked"),
    [
        ("1", (0, "")),
        ("2) because prod", (1, "because prod")),
        ("2.\nbecause\nprod", (1, "because\nprod")),
        ("not during the freeze.", (0, "")),
        ("Explain first\nwhy prod?", (1, "why prod?")),
    ],
)
def test_a_reply_picks_a_way_to_deny_by_number_or_text(reply: str, picked: tuple[int, str]) -> None:
    assert read_deny_option(reply, LABELS) == picked


@pytest.mark.parametrize("reply", ["3", "0", "approve", "12 monkeys", "not during the freeze, please", ""])
def test_anything_else_picks_none(reply: str) -> None:
    assert read_deny_option(reply, LABELS) is None


def test_the_card_has_a_button_per_way_to_deny_with_untrusted_labels_inert() -> None:
    card = approval_card(approval(FREEZE, WHY))
    rows = [b for b in card["blocks"] if b["type"] == "actions" and b["block_id"].startswith("signoff_deny_options")]
    [row] = rows
    assert [(e["action_id"], e["text"]["text"], e["value"]) for e in row["elements"]] == [
        ("signoff_deny_option_1", "Not during the freeze", "r1"),
        ("signoff_deny_option_2", "Explain <!channel> first", "r1"),  # plain_text: never a mention
    ]
    assert not [b for b in approval_card(approval())["blocks"] if b.get("block_id", "").startswith("signoff_deny_opt")]


def test_the_deny_modal_for_a_way_to_deny_is_prefilled_and_names_it() -> None:
    view = deny_modal("r1", 2, WHY.label, WHY.comment)
    [reason] = [b["element"] for b in view["blocks"] if b["type"] == "input"]
    assert reason["initial_value"] == "Tell me why"
    assert "&lt;!channel&gt;" in str(view["blocks"][0]) and "<!channel>" not in str(view["blocks"][0])
    assert deny_modal_target(view) == ("r1", 2)
    plain = deny_modal("r1")
    assert deny_modal_target(plain) == ("r1", None) and "initial_value" not in str(plain)
    assert deny_modal_target({"private_metadata": "odd#id"}) == ("odd#id", None)


def test_the_mail_numbers_the_ways_to_deny() -> None:
    lines = deny_option_lines(approval(FREEZE, WHY))
    assert (
        "    1) Not during the freeze" in lines
        and "    2) Explain <!channel> first (say why after the number)" in lines
    )
    assert deny_option_lines(approval()) == []
