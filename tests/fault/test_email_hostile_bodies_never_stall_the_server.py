"""One small hostile email must not freeze the server (issue 22.1), through a real `signoff serve`,
Dovecot and an SMTP server.

Before: reply stripping took more than quadratic time on runs of blank lines, in the server's
process and holding the GIL: 20,000 blank lines (a 20 KB mail) took the better part of a minute,
and `/healthz` waited as long. Now the body is shaped before the reply parser (linear time), and
parsing runs in a child process with a time limit: a mail that still takes too long is quarantined
(recorded once, flagged \\Flagged in the mailbox, an ERROR and a metric for operators), never
answered and never parsed again, not even when the mailbox is renumbered and hands it over again.
"""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path

import httpx
import pytest
from imapclient import IMAPClient

from tests.fault.conftest import record
from tests.support.dovecot import DovecotServer
from tests.support.email_signoff import (
    AGENT,
    AGENT_PASSWORD,
    BOB,
    WAIT,
    EmailSignoff,
    MakeEmailBot,
    email_signoff,
    mail,
    sent_to,
)
from tests.support.fake_model import FakeModelServer
from tests.support.signoff_process import wait_until
from tests.support.smtp_server import SmtpServer

EVE = "eve@evil.example"
HEALTHZ_BOUND = 3.0  # seconds: /healthz answers in milliseconds; this leaves room for a loaded machine


class HealthProbe:
    """Asks /healthz again and again in a thread, and keeps how long each answer took."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.latencies: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> HealthProbe:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=300)

    def _run(self) -> None:
        with httpx.Client(timeout=300) as client:
            while not self._stop.is_set():
                started = time.monotonic()
                client.get(f"{self.url}/healthz")
                self.latencies.append(time.monotonic() - started)
                self._stop.wait(0.05)


@pytest.fixture
def bot(make_email_bot: MakeEmailBot, noted: FakeModelServer) -> EmailSignoff:
    return make_email_bot()


def test_a_mail_of_blank_lines_does_not_stall_healthz_and_the_next_mail_is_answered(bot: EmailSignoff) -> None:
    freezing = mail(EVE, "hello", "hi\n" + "\n" * 20_000 + "bye")
    with HealthProbe(bot.process.url) as probe:
        bot.send(freezing)
        bot.send(mail(BOB, "payments", "is payments up?"))
        bot.wait_sent(1, sent_to(BOB))
        bot.wait_sent(1, sent_to(EVE))  # read and answered like any mail: it was only blank lines
    record(
        f"22.1 blank lines: 20,000 blank lines ({len(freezing):,} bytes) and a normal mail, both answered; "
        f"{len(probe.latencies)} /healthz calls meanwhile, slowest {max(probe.latencies) * 1000:.0f} ms"
    )
    assert len(probe.latencies) > 5
    assert max(probe.latencies) < HEALTHZ_BOUND, f"slowest /healthz: {max(probe.latencies):.1f} s"


def imap_flags(dovecot: DovecotServer, message_id: str) -> set[bytes]:
    with IMAPClient(dovecot.host, port=dovecot.imap_port, ssl=False, timeout=10) as client:
        client.login(AGENT, AGENT_PASSWORD)
        client.select_folder("INBOX", readonly=True)
        for data in client.fetch(client.search(["ALL"]), ["FLAGS", "BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"]).values():
            if message_id.encode() in data[b"BODY[HEADER.FIELDS (MESSAGE-ID)]"]:
                return set(data[b"FLAGS"])
    raise AssertionError(f"{message_id} is not in the mailbox")


def slow_mail(message_id: str) -> bytes:
    """Legitimate but slow to parse: about 8 MB of HTML, seconds of work, past a 1 s limit."""
    head = (
        f"From: Eve <{EVE}>\r\nTo: {AGENT}\r\nSubject: big\r\nMessage-ID: {message_id}\r\n"
        "Content-Type: text/html; charset=utf-8\r\n\r\n"
    ).encode()
    return head + b"<p>" + b"hello <b>world</b> <i>again</i> " * 250_000 + b"</p>\r\n"


def test_a_mail_over_the_parse_time_limit_is_quarantined_flagged_reported_and_never_retried(
    dovecot: DovecotServer, smtp: SmtpServer, noted: FakeModelServer, tmp_path: Path
) -> None:
    message_id = "<slow.1@evil.example>"
    with email_signoff(dovecot, smtp, noted, tmp_path, SIGNOFF_EMAIL_PARSE_TIMEOUT="1") as bot:
        with HealthProbe(bot.process.url) as probe:
            bot.dovecot.deliver(slow_mail(message_id), to=AGENT, sender=EVE)
            bot.send(mail(BOB, "payments", "is payments up?"))
            bot.wait_sent(1, sent_to(BOB))
        bot.log_has("quarantined")
        [line] = [ln for ln in bot.process.logs().splitlines() if "quarantined" in ln]
        assert "ERROR" in line and message_id in line and EVE in line
        metrics = bot.api.get("/metrics").text
        assert re.search(r"^signoff_email_quarantined_total 1\.0$", metrics, re.MULTILINE), metrics
        flags = wait_until(lambda: (f := imap_flags(dovecot, message_id)) and b"\\Flagged" in f and f, timeout=WAIT)
        assert b"\\Seen" in flags
        assert max(probe.latencies) < HEALTHZ_BOUND
        record(
            f"22.1 quarantine: 8 MB HTML over a 1 s parse limit: quarantined, \\Flagged, 1 ERROR, metric 1; "
            f"{len(probe.latencies)} /healthz calls meanwhile, slowest {max(probe.latencies) * 1000:.0f} ms"
        )

        # The mailbox is renumbered: every message is handed over again. The quarantined one is
        # known by its Message-ID, not parsed again, not reported again.
        bot.dovecot.change_uidvalidity(AGENT)
        bot.send(mail(BOB, "search", "is search up?"))
        bot.wait_sent(2, sent_to(BOB))
        bot.log_has("UIDVALIDITY changed")
        assert bot.process.logs().count("quarantined:") == 1
        assert "longer than 1 s" in bot.process.logs()
        assert not bot.sent(sent_to(EVE))
        assert len(bot.threads()) == 2  # Bob's two: nothing was started from Eve's mail
