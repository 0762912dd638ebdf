"""Security 22.5 (size before reading): a 100 MB body gets its 401 or 413 before the server reads it.

One real `signoff serve` with the JSON API and Slack's HTTP endpoint. Each flood is 100 MB of
`x`, sent with a Content-Length or chunked (no length at all), without credentials, with Slack
headers that are fresh but forged, and with a valid API token. The server's resident memory
(VmRSS) is read from /proc before and after; the client counts how much of the body it got to hand
to its socket before the answer came. A body just under the cap (SIGNOFF_MAX_BODY_BYTES, 1 MiB by
default) is still read, parsed and acted on.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.fault.conftest import record
from tests.support.fake_model import FakeModelServer, text
from tests.support.fake_slack import FakeSlack
from tests.support.signoff_process import API_TOKEN, wait_until
from tests.support.slack_requests import app_mention, event_callback, sign
from tests.support.slack_signoff import SECRET, SlackSignoff, slack_signoff

CAP = 1024 * 1024  # the default SIGNOFF_MAX_BODY_BYTES
FLOOD = 100 * 1024 * 1024
CHUNK = 64 * 1024
RSS_BOUND = 16 * 1024 * 1024  # what all the floods together may add to the server's memory
HANDED_BOUND = FLOOD // 4  # loopback socket buffers take a few MB before the server answers


def memory(pid: int, field: str) -> int:
    """VmRSS (resident memory now) or VmHWM (its peak so far) of a process, in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no {field}")


class Flood:
    """`size` bytes of b"x" in 64 KiB chunks, counting how many the client took."""

    def __init__(self, size: int = FLOOD) -> None:
        self.size = size
        self.handed = 0
        self._chunk = b"x" * CHUNK

    def __iter__(self) -> Iterator[bytes]:
        while self.handed < self.size:
            n = min(CHUNK, self.size - self.handed)
            self.handed += n
            yield self._chunk[:n]


@dataclass
class Outcome:
    status: int
    seconds: float
    handed: int


def flood(url: str, path: str, headers: dict[str, str], *, with_length: bool) -> Outcome:
    body = Flood()
    if with_length:
        headers = {**headers, "Content-Length": str(FLOOD)}  # httpx then streams it without chunking
    started = time.monotonic()
    with httpx.Client(base_url=url, timeout=120) as client:
        response = client.post(path, content=iter(body), headers=headers)
    return Outcome(response.status_code, time.monotonic() - started, body.handed)


def padded(document: dict[str, object], size: int) -> bytes:
    """`document` as JSON, padded with trailing whitespace to exactly `size` bytes."""
    raw = json.dumps(document).encode()
    assert len(raw) <= size
    return raw + b" " * (size - len(raw))


@pytest.fixture(scope="module")
def bot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SlackSignoff]:
    with (
        FakeSlack() as fake,
        FakeModelServer(default=lambda _body: text("Hello.")) as model,
        slack_signoff(fake, model, tmp_path_factory.mktemp("floods")) as running,
    ):
        yield running


def test_a_body_up_to_the_cap_is_still_read(bot: SlackSignoff) -> None:
    launch = padded({"message": "hello from a padded body", "by": "bob@example.com"}, CAP)
    response = bot.api.post("/api/threads", content=launch, headers={"Content-Type": "application/json"})
    assert response.status_code == 201, response.text
    over = bot.api.post("/api/threads", content=launch + b" ", headers={"Content-Type": "application/json"})
    assert over.status_code == 413

    event = padded(event_callback(app_mention("<@UBOT> hello, padded"), "EvPadded"), CAP - 1)
    body, headers = sign(SECRET, event, "application/json")
    assert bot.post(body, headers).status_code == 200
    wait_until(
        lambda: any(t["status"] == "done" and t["id"] != response.json()["id"] for t in bot.threads()),
        message="the padded Slack mention's thread",
    )


CASES = [
    # (name, path, headers, with Content-Length, expected status)
    ("api, no token, Content-Length", "/api/threads", {}, True, 413),
    ("api, no token, chunked", "/api/threads", {}, False, 401),
    ("api, wrong token, chunked", "/api/threads", {"Authorization": "Bearer wrong"}, False, 401),
    ("api, valid token, chunked", "/api/threads", {"Authorization": f"Bearer {API_TOKEN}"}, False, 413),
    ("slack, unsigned, Content-Length", "/slack/events", {}, True, 413),
    ("slack, unsigned, chunked", "/slack/events", {}, False, 401),
    ("slack, stale timestamp, chunked", "/slack/events", {"X-Slack-Signature": "v0=00"}, False, 401),
    ("slack, fresh forged signature, chunked", "/slack/events", {"X-Slack-Signature": "v0=00"}, False, 413),
]


def test_floods_are_answered_before_they_are_read(bot: SlackSignoff) -> None:
    assert bot.process.proc is not None
    pid = bot.process.proc.pid
    bot.api.get("/api/threads")  # warm: every code path below has run once before the baseline
    before, peak_before = memory(pid, "VmRSS"), memory(pid, "VmHWM")
    lines = []
    for name, path, headers, with_length, expected in CASES:
        if path == "/slack/events" and "X-Slack-Signature" in headers:
            stale = "stale" in name
            headers = {**headers, "X-Slack-Request-Timestamp": str(int(time.time()) - (600 if stale else 0))}
        outcome = flood(bot.process.url, path, headers, with_length=with_length)
        lines.append(
            f"{name}: {outcome.status} in {outcome.seconds:.2f} s, {outcome.handed / 2**20:.1f} MiB handed over"
        )
        assert outcome.status == expected, f"{name}: {outcome}"
        assert outcome.handed < HANDED_BOUND, f"{name}: the client handed over {outcome.handed} bytes"
    after, peak_after = memory(pid, "VmRSS"), memory(pid, "VmHWM")
    assert httpx.get(f"{bot.process.url}/healthz").status_code == 200
    record(
        f"[size before reading] {len(CASES)} floods of 100 MiB: server RSS {before / 2**20:.0f} -> "
        f"{after / 2**20:.0f} MiB, peak {peak_before / 2**20:.0f} -> {peak_after / 2**20:.0f} MiB; " + "; ".join(lines)
    )
    assert after - before < RSS_BOUND, f"RSS grew from {before} to {after} bytes"
    assert peak_after - before < RSS_BOUND, f"RSS peaked at {peak_after} bytes (from {before})"
