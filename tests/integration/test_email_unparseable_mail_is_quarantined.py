"""A message the parser cannot finish (it raised, or took longer than its time limit) is
quarantined: recorded once in the database under its Message-ID, reported once (an ERROR naming
the Message-ID and the sender, and the `on_quarantine` hook behind the metric), never answered, and
never parsed again, by this process or a restarted one (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator

import pytest

from bot.core import SignoffCore
from bot.email_wiring import StoreMailIndex
from bot.example_agent import agent
from channels.email.addresses import Mailbox
from channels.email.errors import ParserUnavailable, ParseTimeout
from channels.email.imap_watch import QUARANTINED
from channels.email.inbound import EmailInbound
from channels.email.limits import SenderRateLimit
from channels.email.mailer import EmailConfig, Mailer
from channels.email.parse_worker import ParseWorker
from channels.email.smtp_send import SmtpSettings
from channels.email.threads import quarantine_key
from storage.async_store import AsyncStore
from storage.store import Store
from tests.support.smtp_server import SmtpServer

AGENT = "agent@example.test"
EVE = "eve@evil.example"
TIMEOUT = 1.0


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer.start()
    yield server
    server.stop()


def slow_mail(message_id: str) -> bytes:
    """Legitimate but slow to parse: about 8 MB of HTML (seconds of html2text, past TIMEOUT)."""
    head = (
        f"From: Eve <{EVE}>\r\nTo: {AGENT}\r\nSubject: big\r\nMessage-ID: {message_id}\r\n"
        "Content-Type: text/html; charset=utf-8\r\n\r\n"
    ).encode()
    return head + b"<p>" + b"hello <b>world</b> <i>again</i> " * 250_000 + b"</p>"


def inbound(store: Store, smtp: SmtpServer, worker: ParseWorker, reports: list[tuple[str, str, str]]) -> EmailInbound:
    config = EmailConfig(address=AGENT, secret="s", max_bytes=20_000_000)
    storage = AsyncStore(store, threads=2)
    index = StoreMailIndex(storage, Mailbox(AGENT))
    mailer = Mailer(config, SmtpSettings(host=smtp.host, port=smtp.port, tls="off", timeout=5), index)
    core = SignoffCore(storage, agent)
    return EmailInbound(
        core,
        index,
        mailer,
        limit=SenderRateLimit(30),
        parser=worker,
        on_quarantine=lambda *report: reports.append(report),
    )


def test_a_mail_over_the_time_limit_is_quarantined_once_and_never_parsed_again(
    store: Store, smtp: SmtpServer, caplog: pytest.LogCaptureFixture
) -> None:
    message_id = "<slow.1@evil.example>"
    raw = slow_mail(message_id)
    reports: list[tuple[str, str, str]] = []
    first = ParseWorker(timeout=TIMEOUT)
    try:
        with caplog.at_level(logging.ERROR, logger="channels.email.inbound"):
            assert asyncio.run(inbound(store, smtp, first, reports).handle(raw)) == QUARANTINED
            # The same bytes handed over again (a reconnect before \Flagged was set): known at once.
            assert asyncio.run(inbound(store, smtp, first, reports).handle(raw)) == QUARANTINED
    finally:
        first.close()
    assert store.has_receipt(quarantine_key(message_id))
    assert [(mid, sender) for mid, sender, _ in reports] == [(message_id, EVE)]
    assert "longer than 1 s" in reports[0][2]
    [error] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert message_id in error.getMessage() and EVE in error.getMessage()
    assert "quarantined" in error.getMessage()

    # A restarted server (a new parser, a new inbound) does not parse it again: no child is started.
    restarted = ParseWorker(timeout=TIMEOUT)
    try:
        started = time.monotonic()
        assert asyncio.run(inbound(store, smtp, restarted, reports).handle(raw)) == QUARANTINED
        assert time.monotonic() - started < TIMEOUT
        assert restarted.started == 0
    finally:
        restarted.close()
    assert len(reports) == 1
    assert store.list_threads() == [] and smtp.messages == []


def test_the_parser_process_is_replaced_after_a_timeout_and_parses_the_next_mail() -> None:
    worker = ParseWorker(timeout=TIMEOUT)
    try:
        with pytest.raises(ParseTimeout):
            asyncio.run(worker.parse(slow_mail("<slow.2@evil.example>"), max_bytes=20_000_000))
        ok = b"From: bob@corp.example\r\nMessage-ID: <ok@corp.example>\r\n\r\nplease restart payments\r\n"
        parsed = asyncio.run(worker.parse(ok))
        assert (parsed.from_addr, parsed.text) == ("bob@corp.example", "please restart payments")
        assert worker.started == 2
    finally:
        worker.close()


def test_a_parser_that_cannot_start_quarantines_nothing_and_the_mail_waits(store: Store, smtp: SmtpServer) -> None:
    """Our fault, not the message's: nothing is recorded, so the watcher hands it over again later."""
    reports: list[tuple[str, str, str]] = []
    broken = ParseWorker(timeout=TIMEOUT, python="/bin/false")  # exits at once: no parser to talk to
    raw = b"From: bob@corp.example\r\nMessage-ID: <wait@corp.example>\r\n\r\nplease restart payments\r\n"
    try:
        with pytest.raises(ParserUnavailable):
            asyncio.run(inbound(store, smtp, broken, reports).handle(raw))
    finally:
        broken.close()
    assert reports == [] and not store.has_receipt(quarantine_key("<wait@corp.example>"))
    working = ParseWorker(timeout=TIMEOUT)
    try:
        assert asyncio.run(inbound(store, smtp, working, reports).handle(raw)) is True
    finally:
        working.close()
    [thread] = store.list_threads()
    assert thread.requested_by == "bob@corp.example"
