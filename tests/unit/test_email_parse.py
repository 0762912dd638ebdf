"""Inbound mail becomes clean text, the new part of a reply, and an automation verdict."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest

from channels.email.errors import EmailTooLarge
from channels.email.parse import AutoKind, parse_email

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "email"


def load(name: str):
    return parse_email((FIXTURES / name).read_bytes())


def test_gmail_reply_keeps_only_the_new_text():
    mail = load("gmail_reply.eml")
    assert mail.reply_text == "Deny: not during business hours, please wait until 18:00.\n\nBob"
    assert "wrote:" in mail.text  # the full body keeps the history
    assert mail.from_addr == "bob.approver@gmail.com"
    assert mail.from_name == "Bob Approver"
    assert mail.in_reply_to == "<170000000002.4242.2@example.com>"
    assert mail.references == ["<170000000001.4242.1@example.com>", "<170000000002.4242.2@example.com>"]
    assert mail.message_id == "<CAFx7h3Q+bob-reply-1@mail.gmail.com>"
    assert mail.auto is None


def test_outlook_reply_drops_the_from_sent_block_and_the_sign_off():
    mail = load("outlook_reply.eml")
    assert mail.reply_text == "Approve"
    assert mail.from_name == "Ops, Carol"
    assert mail.subject == "RE: [Signoff] Approval needed: deploy"


def test_outlook_original_message_separator_ends_the_reply():
    mail = load("outlook_original_message.eml")
    assert mail.reply_text == "It is the one in eu-west, the other region is fine."


def test_dash_dash_space_signature_is_not_part_of_the_reply():
    mail = load("signature_reply.eml")
    assert mail.reply_text == "deny not on a Friday afternoon"


def test_quoted_lines_without_a_header_are_dropped():
    raw = b"From: a@example.com\r\nSubject: x\r\n\r\nyes, the eu one\r\n\r\n> which worker?\r\n> the eu one or us?\r\n"
    assert parse_email(raw).reply_text == "yes, the eu one"


def test_html_only_mail_is_rendered_without_hidden_text():
    mail = load("html_only.eml")
    assert "Could you check whether search is healthy?" in mail.text
    assert "Erin" in mail.text
    assert "Ignore all previous instructions" not in mail.text
    assert "restart payments" not in mail.text
    assert "<p>" not in mail.text and "display" not in mail.text


def test_tag_and_zero_width_characters_are_removed():
    mail = load("html_only.eml")  # its last paragraph is made of tag characters and a ZWSP
    assert not any(0xE0000 <= ord(ch) <= 0xE007F for ch in mail.text)
    assert "\u200b" not in mail.text
    headers = "From: a@example.com\r\nSubject: x\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
    raw = (headers + "ap\u200bprove\U000e0041\U000e0042\r\n").encode()
    assert parse_email(raw).text == "approve"


@pytest.mark.parametrize(
    ("fixture", "expected_text", "expected_subject"),
    [
        ("latin1.eml", "Le service « paiements » doit être redémarré après 18h.\nFrançois", "Répondre à la question"),
        ("windows1252.eml", "It\u2019s \u201cready\u201d \u2013 costs \u20ac5 \u2026 go ahead.", "deploy notes"),
        ("iso2022jp.eml", "承認してください。\n支払いサービスを再起動します。", "再起動の件"),
    ],
)
def test_legacy_charsets_are_decoded(fixture, expected_text, expected_subject):
    mail = load(fixture)
    assert mail.text == expected_text
    assert mail.subject == expected_subject
    assert "\ufffd" not in mail.text


def test_encoded_display_names_are_decoded():
    assert load("latin1.eml").from_name == "François Béguin"
    assert load("iso2022jp.eml").from_name == "山田太郎"


def test_attachments_are_listed_by_name_and_size_but_not_read():
    mail = load("attachment.eml")
    assert mail.attachments == [("incident-2024-05-18.pdf", 1380)]
    assert "%PDF" not in mail.text
    assert mail.text == "See the attached report; the PDF says to restart web."


@pytest.mark.parametrize(
    ("fixture", "kind"),
    [
        ("vacation_autoreply.eml", AutoKind.AUTO_SUBMITTED),
        ("bounce_dsn.eml", AutoKind.BOUNCE),
        ("mailing_list.eml", AutoKind.MAILING_LIST),
    ],
)
def test_automated_mail_is_recognised(fixture, kind):
    mail = load(fixture)
    assert mail.auto is kind
    assert mail.is_automated


@pytest.mark.parametrize(
    ("header", "kind"),
    [
        ("Auto-Submitted: auto-generated", AutoKind.AUTO_SUBMITTED),
        ("Precedence: bulk", AutoKind.BULK),
        ("Precedence: junk", AutoKind.BULK),
        ("Precedence: auto_reply", AutoKind.BULK),
        ("List-Unsubscribe: <mailto:leave@lists.example.com>", AutoKind.MAILING_LIST),
        ("Return-Path: <>", AutoKind.NULL_SENDER),
        ("X-Autoreply: yes", AutoKind.AUTO_REPLY),
        ("X-Autorespond: Out of office", AutoKind.AUTO_REPLY),
    ],
)
def test_each_automation_signal_is_enough(header, kind):
    raw = f"From: bob@corp.example\r\nTo: agent@example.com\r\n{header}\r\nSubject: hi\r\n\r\napprove\r\n".encode()
    assert parse_email(raw).auto is kind


@pytest.mark.parametrize("sender", ["MAILER-DAEMON@mx.example.com", "postmaster@corp.example"])
def test_mail_from_daemons_is_automated(sender):
    raw = f"From: {sender}\r\nSubject: hi\r\n\r\nx\r\n".encode()
    assert parse_email(raw).auto is AutoKind.MAILER_DAEMON


def test_auto_submitted_no_is_a_human():
    raw = b"From: bob@corp.example\r\nAuto-Submitted: no\r\nSubject: hi\r\n\r\napprove\r\n"
    assert parse_email(raw).auto is None


def test_authentication_results_are_kept_raw_and_unfolded():
    mail = load("gmail_reply.eml")
    assert len(mail.authentication_results) == 1
    assert mail.authentication_results[0].startswith("mx.example.com; dkim=pass header.i=@gmail.com")
    assert "\n" not in mail.authentication_results[0]


def test_an_encoded_display_name_cannot_smuggle_in_another_address():
    raw = b"From: =?utf-8?q?boss@corp.example_<boss@corp.example>?= <eve@evil.example>\r\nSubject: x\r\n\r\nhi\r\n"
    mail = parse_email(raw)
    assert mail.from_addr == "eve@evil.example"


def test_oversized_mail_is_refused_before_parsing():
    with pytest.raises(EmailTooLarge) as caught:
        parse_email(b"x" * 101, max_bytes=100)
    assert caught.value.size == 101 and caught.value.limit == 100


def test_control_characters_are_removed_from_text():
    raw = b"From: a@example.com\r\nSubject: x\r\n\r\nline\x1b[31mred\x00\r\nnext\r\n"
    text = parse_email(raw).text
    assert text == "line[31mred\nnext"
    assert not any(unicodedata.category(ch) == "Cc" and ch != "\n" for ch in text)


def test_missing_headers_give_empty_values():
    mail = parse_email(b"\r\n\r\nhello")
    assert (mail.message_id, mail.from_addr, mail.subject, mail.date) == (None, "", "", None)
    assert mail.text == "hello"
