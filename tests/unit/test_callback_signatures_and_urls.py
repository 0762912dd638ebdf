"""The callback's signature (`X-Signoff-Signature: t=...,v1=...` over "t.body") and which callback
URLs are accepted: only http(s), no user info, within SIGNOFF_CALLBACK_HOSTS when it is set."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from bot.callbacks import callback_url_problem, sign, verify

SECRET = "a-secret-of-at-least-16-chars"


def test_the_signature_is_an_hmac_of_the_timestamp_and_the_body() -> None:
    header = sign(SECRET, b'{"status":"approved"}', 1_700_000_000)
    expected = hmac.new(SECRET.encode(), b'1700000000.{"status":"approved"}', hashlib.sha256).hexdigest()
    assert header == f"t=1700000000,v1={expected}"
    assert verify(SECRET, b'{"status":"approved"}', header, now=1_700_000_100)


@pytest.mark.parametrize(
    ("secret", "body", "now"),
    [
        ("another-secret-of-16-chars", b'{"status":"approved"}', 1_700_000_000),  # wrong secret
        (SECRET, b'{"status":"denied"}', 1_700_000_000),  # body changed
        (SECRET, b'{"status":"approved"}', 1_700_000_301),  # replayed too late
        (SECRET, b'{"status":"approved"}', 1_699_999_699),  # from the future
    ],
)
def test_a_changed_body_another_secret_or_a_stale_timestamp_fail(secret: str, body: bytes, now: int) -> None:
    assert not verify(secret, body, sign(SECRET, b'{"status":"approved"}', 1_700_000_000), now=now)


@pytest.mark.parametrize("header", ["", "t=abc,v1=00", "v1=00", "t=1700000000"])
def test_malformed_headers_fail(header: str) -> None:
    assert not verify(SECRET, b"{}", header, now=1_700_000_000)


@pytest.mark.parametrize(
    ("url", "hosts", "problem"),
    [
        ("https://hooks.example.com/signoff", [], None),
        ("http://127.0.0.1:8000/hook", ["127.0.0.1"], None),
        ("http://127.0.0.1:8000/hook", ["127.0.0.1:8000"], None),
        ("https://HOOKS.example.com/x", ["hooks.example.com"], None),
        ("http://127.0.0.1:9000/hook", ["127.0.0.1:8000"], "not in SIGNOFF_CALLBACK_HOSTS"),
        ("http://169.254.169.254/latest/meta-data", ["hooks.example.com"], "not in SIGNOFF_CALLBACK_HOSTS"),
        ("file:///etc/passwd", [], "http or https"),
        ("gopher://example.com/", [], "http or https"),
        ("https://user:pw@example.com/", [], "user name or password"),
        ("https:///nohost", [], "no host"),
        ("http://example.com:99999/", [], "not a URL"),
        ("https://example.com/" + "a" * 2000, [], "longer than"),
    ],
)
def test_which_callback_urls_are_accepted(url: str, hosts: list[str], problem: str | None) -> None:
    found = callback_url_problem(url, hosts)
    assert (found is None) if problem is None else (found is not None and problem in found), found
