"""A webhook is taken only with a good HMAC over its raw body (GitHub's form and the generic one
with its timestamp window), and its message is built from the payload by the hook's template;
whatever fails says why, with the HTTP status it gets."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr

from bot.deployment import HookEntry
from bot.hooks import HookRefused, render, sign, thread_key, verify

SECRET = "a-secret-of-twenty-chars"
NOW = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)
BODY = json.dumps({"action": "opened", "pull_request": {"number": 42}, "labels": [{"name": "urgent"}]}).encode()


def hook(form: str = "generic", **changes: object) -> HookEntry:
    values: dict[str, object] = {
        "agent": "ops",
        "secret": SecretStr(SECRET),
        "form": form,
        "template": "PR {payload.pull_request.number} {payload.action} ({event}, {payload.labels.0.name})",
        **changes,
    }
    return HookEntry.model_validate(values)


def github_headers(body: bytes = BODY, secret: str = SECRET) -> dict[str, str]:
    return {
        "x-hub-signature-256": sign(secret.encode(), body, form="github"),
        "x-github-delivery": "d-1",
        "x-github-event": "pull_request",
    }


def generic_headers(body: bytes = BODY, at: datetime = NOW) -> dict[str, str]:
    stamp = int(at.timestamp())
    return {
        "x-signoff-signature": sign(SECRET.encode(), body, form="generic", timestamp=stamp),
        "x-signoff-timestamp": str(stamp),
        "x-signoff-delivery": "d-2",
        "x-signoff-event": "deploy",
    }


def test_a_github_delivery_renders_its_message_and_key() -> None:
    delivery = verify(hook("github", key="payload.pull_request.number"), github_headers(), BODY, NOW)
    assert (delivery.delivery_id, delivery.event) == ("d-1", "pull_request")
    assert render(hook("github").template, delivery) == "PR 42 opened (pull_request, urgent)"
    assert thread_key(hook("github", key="payload.pull_request.number"), delivery) == "42"


def test_a_generic_delivery_inside_its_window_is_taken() -> None:
    delivery = verify(hook(), generic_headers(at=NOW - timedelta(seconds=299)), BODY, NOW)
    assert delivery.delivery_id == "d-2"


@pytest.mark.parametrize(
    ("form", "headers", "body", "status", "why"),
    [
        ("github", {**github_headers(), "x-hub-signature-256": ""}, BODY, 401, "missing signature"),
        ("github", github_headers(secret="another-secret-entirely"), BODY, 401, "bad signature"),
        ("github", github_headers(), BODY + b" ", 401, "bad signature"),
        ("github", {**github_headers(), "x-github-delivery": ""}, BODY, 400, "delivery id"),
        ("generic", generic_headers(at=NOW - timedelta(seconds=301)), BODY, 401, "outside the 300s window"),
        ("generic", generic_headers(at=NOW + timedelta(seconds=301)), BODY, 401, "outside the 300s window"),
        ("generic", {**generic_headers(), "x-signoff-timestamp": "soon"}, BODY, 401, "X-Signoff-Timestamp"),
        ("generic", {**generic_headers(), "x-signoff-timestamp": str(int(NOW.timestamp()) - 1)}, BODY, 401, "bad"),
    ],
)
def test_a_bad_delivery_is_refused(form: str, headers: dict[str, str], body: bytes, status: int, why: str) -> None:
    with pytest.raises(HookRefused) as refused:
        verify(hook(form), headers, body, NOW)
    assert refused.value.status == status and why in refused.value.message


def test_a_payload_the_template_cannot_render_is_a_422() -> None:
    body = json.dumps({"action": "closed"}).encode()
    delivery = verify(hook("github"), github_headers(body), body, NOW)
    with pytest.raises(HookRefused) as refused:
        render(hook("github").template, delivery)
    assert refused.value.status == 422 and "pull_request.number" in refused.value.message
    with pytest.raises(HookRefused, match="only event, delivery and payload"):
        render("{secrets}", delivery)


def test_a_signed_body_that_is_not_json_is_a_400() -> None:
    body = b"{not json"
    with pytest.raises(HookRefused) as refused:
        verify(hook("github"), github_headers(body), body, NOW)
    assert refused.value.status == 400
