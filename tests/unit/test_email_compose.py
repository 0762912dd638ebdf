"""Outgoing mail is threaded, marked as automatic, and cannot be turned into other headers."""

from __future__ import annotations

from datetime import UTC, datetime
from email import policy
from email.parser import BytesParser

import pytest

from channels.base import HumanRequestView
from channels.email.answers import read_decision
from channels.email.compose import (
    MAX_SUBJECT_CHARS,
    ThreadRefs,
    compose_approval_request,
    compose_decision_notice,
    compose_question,
    compose_reply,
    reply_subject,
)

NOW = datetime(2024, 5, 14, 9, 0, tzinfo=UTC)
THREAD = ThreadRefs.answering("<p2@corp.example>", ["<root@corp.example>", "<p1@example.com>"], "payments slow")


def request(**changes) -> HumanRequestView:
    values = dict(
        id="req-1",
        thread_id="t-1",
        kind="approval",
        status="pending",
        tool="restart_service",
        arguments={"name": "payments"},
        reason="The payments worker is stuck.",
        question="",
        options=[],
        allowed=["bob@corp.example"],
        requested_by="alice@corp.example",
    )
    values.update(changes)
    return HumanRequestView(**values)


def reparse(msg):
    return BytesParser(policy=policy.default).parsebytes(msg.as_bytes())


def test_a_reply_is_threaded_under_the_message_it_answers():
    msg = reparse(
        compose_reply(agent_address="agent@example.com", to=["alice@corp.example"], thread=THREAD, text="Done.")
    )
    assert msg["In-Reply-To"] == "<p2@corp.example>"
    assert msg["References"].split() == ["<root@corp.example>", "<p1@example.com>", "<p2@corp.example>"]
    assert msg["Subject"] == "Re: payments slow"
    assert msg["Message-ID"].endswith("@example.com>")
    assert msg["From"].addresses[0].addr_spec == "agent@example.com"
    assert msg.get_content().strip() == "Done."
    assert msg.get_content_type() == "text/plain" and msg.get_content_charset() == "utf-8"


def test_each_message_gets_its_own_message_id():
    first = compose_reply(agent_address="agent@example.com", to=["a@b.example"], thread=THREAD, text="x")
    second = compose_reply(agent_address="agent@example.com", to=["a@b.example"], thread=THREAD, text="x")
    assert first["Message-ID"] != second["Message-ID"]


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("payments", "Re: payments"),
        ("Re: payments", "Re: payments"),
        ("RE: Re: AW: payments", "Re: payments"),
        ("Re[2]: payments", "Re: payments"),
        ("", "Re:"),
    ],
)
def test_the_subject_gets_one_re_prefix(subject, expected):
    assert reply_subject(subject) == expected


def test_outgoing_mail_is_marked_automatic_so_robots_do_not_answer():
    msg = compose_reply(agent_address="agent@example.com", to=["a@b.example"], thread=THREAD, text="x")
    assert msg["Auto-Submitted"] == "auto-replied"
    assert msg["X-Auto-Response-Suppress"] == "All"


def test_hostile_subjects_and_names_cannot_inject_headers():
    thread = ThreadRefs.answering("<p@x.example>", [], "hello\r\nBcc: everyone@corp.example\r\n\r\nbody")
    msg = compose_reply(
        agent_address="agent@example.com",
        agent_name="Signoff\r\nX-Evil: 1",
        to=["alice@corp.example"],
        thread=thread,
        text="hi",
    )
    raw = msg.as_bytes()
    parsed = reparse(msg)
    assert parsed["Bcc"] is None and parsed["X-Evil"] is None
    assert b"\r\nBcc:" not in raw and b"\nBcc:" not in raw
    assert parsed["Subject"] == "Re: hello Bcc: everyone@corp.example body"


def test_an_encoded_word_in_a_subject_is_not_decoded_into_headers():
    # The header registry decodes `=?...?=` on assignment; its CR/LF would go out as is.
    thread = ThreadRefs.answering("<p@x.example>", [], "=?utf-8?q?hi=0D=0ABcc=3A_everyone=40corp.example?=")
    msg = compose_reply(agent_address="agent@example.com", to=["alice@corp.example"], thread=thread, text="hi")
    parsed = reparse(msg)
    assert parsed["Bcc"] is None and b"Bcc:" not in msg.as_bytes()
    assert parsed["Subject"] == "Re: = ?utf-8?q?hi=0D=0ABcc=3A_everyone=40corp.example?="


def test_invisible_characters_are_removed_from_text_and_shown_in_arguments():
    msg = compose_approval_request(
        request(arguments={"name": "pay\u200bments"}, reason="fine \u202eevorppa\U000e0041"),
        agent_address="agent@example.com",
        to=["bob@corp.example"],
        reply_to="agent+token@example.com",
        thread=ThreadRefs.answering("<p@x.example>", [], "status \u202eof\u200b web"),
    )
    body = reparse(msg).get_content()
    assert '"name": "pay⟨U+200B⟩ments"' in body and "hard to see, shown as ⟨…⟩ marks" in body
    assert "    fine evorppa\n" in body
    assert msg["Subject"] == "Re: status of web"


@pytest.mark.parametrize(
    "bad", ["alice@corp.example\r\nBcc: x@evil.example", "a@b.example, c@d.example", "Eve <eve@evil.example>", ""]
)
def test_recipient_addresses_must_be_single_plain_addresses(bad):
    with pytest.raises(ValueError):
        compose_reply(agent_address="agent@example.com", to=[bad], thread=THREAD, text="x")


def test_bad_message_ids_are_left_out_of_the_threading_headers():
    thread = ThreadRefs.answering("<p@x>\r\nBcc: e@evil.example", ["not-an-id", "<ok@x>"], "s")
    msg = compose_reply(agent_address="agent@example.com", to=["a@b.example"], thread=thread, text="x")
    assert msg["In-Reply-To"] is None
    assert msg["References"] == "<ok@x>"


def test_an_approval_request_says_what_runs_why_for_whom_and_how_to_answer():
    msg = compose_approval_request(
        request(arguments={"name": "payments", "force": True}),
        agent_address="agent@example.com",
        to=["bob@corp.example"],
        reply_to="agent+token@example.com",
        thread=THREAD,
        now=NOW,
    )
    body = reparse(msg).get_content()
    assert "restart_service" in body
    assert '"name": "payments"' in body and '"force": true' in body
    assert "The payments worker is stuck." in body
    assert "alice@corp.example" in body
    assert "    approve\n" in body and "    deny <reason>\n" in body
    assert msg["Reply-To"].addresses[0].addr_spec == "agent+token@example.com"
    assert msg["In-Reply-To"] == "<p2@corp.example>"


def test_argument_values_cannot_fake_lines_in_the_request():
    msg = compose_approval_request(
        request(arguments={"name": "web\n\napprove\n"}),
        agent_address="agent@example.com",
        to=["bob@corp.example"],
        reply_to="agent+token@example.com",
        thread=THREAD,
    )
    body = msg.get_content()
    assert '"name": "web⟨2 newlines⟩approve⟨newline⟩"' in body


def test_quoting_the_request_back_is_not_a_decision():
    msg = compose_approval_request(
        request(), agent_address="agent@example.com", to=["bob@corp.example"], reply_to="a+t@example.com", thread=THREAD
    )
    assert read_decision(msg.get_content()) is None


def test_a_question_lists_the_options():
    msg = compose_question(
        request(kind="question", tool=None, arguments={}, question="Which region?", options=["eu", "us"]),
        agent_address="agent@example.com",
        to=["bob@corp.example"],
        reply_to="agent+t@example.com",
        thread=THREAD,
    )
    body = msg.get_content()
    assert "Which region?" in body and "1) eu" in body and "2) us" in body


def test_a_decision_notice_says_who_decided_and_why():
    msg = compose_decision_notice(
        request(status="denied", decided_by="bob@corp.example", comment="not on a Friday"),
        agent_address="agent@example.com",
        to=["alice@corp.example"],
        thread=THREAD,
        note="Your reply came too late:",
    )
    body = msg.get_content()
    assert body.startswith("Your reply came too late:\nDenied by bob@corp.example: restart_service will not run.")
    assert "not on a Friday" in body


def test_a_huge_subject_is_cut_to_a_readable_length():
    thread = ThreadRefs.answering("<p@x.example>", [], "restart " * 3000)
    msg = compose_reply(agent_address="agent@example.com", to=["alice@corp.example"], thread=thread, text="hi")
    subject = reparse(msg)["Subject"]
    assert subject.startswith("Re: restart restart") and subject.endswith("…")
    assert len(subject) <= len("Re: ") + MAX_SUBJECT_CHARS
