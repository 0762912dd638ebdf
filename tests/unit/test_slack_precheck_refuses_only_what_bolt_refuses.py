"""/slack/events refuses some requests from their headers, before reading the body (`unsigned`).

It must never refuse a request Bolt would accept: for timestamps as Slack writes them, at any
distance from now, the pre-check and Bolt's SignatureVerifier (same injected clock) agree.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from slack_sdk.signature import Clock, SignatureVerifier
from starlette.datastructures import Headers

from channels.slack.connection import SIGNATURE_WINDOW, unsigned

NOW = 1_765_000_000
SECRET = "s3cret"
BODY = b'{"type": "event_callback"}'


class FixedClock(Clock):
    def now(self) -> float:
        return NOW


def headers(timestamp: str | None, signature: str | None) -> Headers:
    raw = {"X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": signature}
    return Headers({k: v for k, v in raw.items() if v is not None})


@given(offset=st.integers(-3 * SIGNATURE_WINDOW, 3 * SIGNATURE_WINDOW))
def test_a_correctly_signed_request_passes_exactly_when_bolt_accepts_it(offset: int) -> None:
    verifier = SignatureVerifier(SECRET, clock=FixedClock())
    timestamp = str(NOW + offset)
    signature = verifier.generate_signature(timestamp=timestamp, body=BODY)
    assert signature is not None
    accepted_by_bolt = verifier.is_valid(BODY, timestamp, signature)
    assert unsigned(headers(timestamp, signature), NOW) is not accepted_by_bolt


def test_what_is_refused_unread() -> None:
    fresh = str(NOW)
    assert unsigned(headers(None, "v0=abc"), NOW)
    assert unsigned(headers(fresh, None), NOW)
    assert unsigned(headers(fresh, ""), NOW)
    assert unsigned(headers("", "v0=abc"), NOW)
    assert unsigned(headers("soon", "v0=abc"), NOW)
    assert unsigned(headers("9" * 5000, "v0=abc"), NOW)  # no int() of 5,000 digits
    assert unsigned(headers(str(NOW - SIGNATURE_WINDOW - 1), "v0=abc"), NOW)
    assert unsigned(headers(str(NOW + SIGNATURE_WINDOW + 1), "v0=abc"), NOW)
    assert not unsigned(headers(fresh, "v0=abc"), NOW)  # the signature itself is Bolt's to check, on the body
