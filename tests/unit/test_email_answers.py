"""The first line of a reply decides; anything else is not a decision."""

from __future__ import annotations

import pytest

from channels.email.answers import read_answer, read_decision


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("approve", ("approve", "")),
        ("Approved.", ("approve", "")),
        ("APPROVE thanks", ("approve", "thanks")),
        ("**Approve**", ("approve", "")),
        ("deny not during business hours", ("deny", "not during business hours")),
        ("Deny: wait until 18:00", ("deny", "wait until 18:00")),
        ("denied", ("deny", "")),
        ("reject - use the canary first", ("deny", "use the canary first")),
        ("Rejected", ("deny", "")),
        ("\n\n  deny\nthe reason is\non the next lines", ("deny", "the reason is\non the next lines")),
    ],
)
def test_decision_words_on_the_first_line_decide(reply, expected):
    assert read_decision(reply) == expected


@pytest.mark.parametrize(
    "reply",
    [
        "yes",
        "ok",
        "lgtm",
        "sure, approve it",
        "approvers should look",
        "Denver is fine",
        "",
        "   \n ",
        "Approve? not sure",
        "I approve",
    ],
)
def test_anything_else_is_not_a_decision(reply):
    assert read_decision(reply) is None


def test_an_answer_is_the_whole_new_text_trimmed():
    assert read_answer("\n  the eu-west one\n\n\n\nthanks\n") == "the eu-west one\n\nthanks"
