"""parse_email accepts any bytes: it returns a result or refuses an oversized message, nothing else."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from channels.email.errors import EmailTooLarge
from channels.email.parse import InboundEmail, parse_email

_HEADER_NAMES = [
    b"From",
    b"To",
    b"Cc",
    b"Reply-To",
    b"Subject",
    b"Date",
    b"Message-ID",
    b"In-Reply-To",
    b"References",
    b"Content-Type",
    b"Content-Transfer-Encoding",
    b"Content-Disposition",
    b"Return-Path",
    b"Auto-Submitted",
    b"Precedence",
    b"List-Id",
    b"Authentication-Results",
]
_TRICKY_VALUES = [
    b"multipart/mixed; boundary=b",
    b"multipart/alternative; boundary=b",
    b"multipart/report; report-type=delivery-status; boundary=b",
    b"text/html; charset=bogus",
    b"text/plain; charset=iso-2022-jp",
    b"message/rfc822",
    b"base64",
    b"quoted-printable",
    b"=?utf-8?b?@@?=",
    b"=?x?q?=?= <a@b>",
    b"<>",
    b'"a" <b@c>',
    b"attachment; filename*=utf-8''%ff%fe",
    b"(((",
    b"<<<@>>>",
    b'"unterminated <a@b>',
]
_BODIES = [
    b"--b\r\nContent-Type: text/html\r\n\r\n<p style='display:none'>a<p>b<div hidden>c\r\n--b--",
    b"--b\r\nContent-Type: message/delivery-status\r\n\r\nx\r\n--b\r\nContent-Type: message/rfc822\r\n\r\n"
    b"From: a\r\n\r\nhi\r\n--b--",
    b"--b\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!\r\n--b",
    b"On Mon, 1 Jan 2024, A <a@b> wrote:\r\n> x\r\n-----Original Message-----\r\nFrom: x\r\nSent: y\r\n",
]

header_lines = st.tuples(
    st.sampled_from(_HEADER_NAMES), st.one_of(st.binary(max_size=80), st.sampled_from(_TRICKY_VALUES))
).map(lambda pair: pair[0] + b": " + pair[1])
messages = st.one_of(
    st.binary(max_size=3000),
    st.tuples(st.lists(header_lines, max_size=10), st.one_of(st.binary(max_size=500), st.sampled_from(_BODIES))).map(
        lambda parts: b"\r\n".join(parts[0]) + b"\r\n\r\n" + parts[1]
    ),
)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(messages)
def test_parse_email_never_crashes_on_arbitrary_bytes(raw: bytes) -> None:
    try:
        result = parse_email(raw, max_bytes=2500)
    except EmailTooLarge:
        assert len(raw) > 2500
        return
    assert isinstance(result, InboundEmail)
    assert isinstance(result.text, str) and isinstance(result.reply_text, str)
    assert not any(0xE0000 <= ord(ch) <= 0xE007F for ch in result.text)
