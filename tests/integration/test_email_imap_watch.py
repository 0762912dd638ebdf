"""The IMAP watcher against a real Dovecot: every message is handed over, durably, once."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import time
from collections.abc import AsyncIterator, Callable

import pytest
from imapclient import IMAPClient

from channels.email.imap_watch import ImapSettings, ImapWatcher
from channels.email.parse import parse_email
from tests.support.dovecot import DovecotServer, dovecot_available

pytestmark = pytest.mark.dovecot

USER, PASSWORD = "agent@example.test", "agent-pw"
_available, _why = dovecot_available()


@pytest.fixture
def dovecot_factory():
    if not _available:
        pytest.skip(_why)
    servers: list[DovecotServer] = []

    def start(**options) -> DovecotServer:
        server = DovecotServer.start({USER: PASSWORD}, **options)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def dovecot(dovecot_factory) -> DovecotServer:
    return dovecot_factory()


class MemoryState:
    """The state store, in memory: (uidvalidity, last_uid) per mailbox key."""

    def __init__(self) -> None:
        self.rows: dict[str, tuple[int, int]] = {}

    async def load(self, mailbox: str) -> tuple[int, int] | None:
        return self.rows.get(mailbox)

    async def save(self, mailbox: str, uidvalidity: int, last_uid: int) -> None:
        self.rows[mailbox] = (uidvalidity, last_uid)


class DedupingInbox:
    """A callback that records each Message-ID once, as the real one does in the database."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, str | None]] = []
        self.recorded: dict[str | None, int] = {}  # Message-ID -> UID it was first recorded under
        self.gate: asyncio.Event | None = None  # when set, each call waits for it
        self.refuse = 0  # answer False this many times
        self.called = asyncio.Event()

    async def __call__(self, uid: int, raw: bytes) -> bool:
        message_id = parse_email(raw).message_id
        self.calls.append((uid, message_id))
        self.called.set()
        if self.gate is not None:
            await self.gate.wait()
        if self.refuse:
            self.refuse -= 1
            return False
        self.recorded.setdefault(message_id, uid)  # a duplicate is "already recorded": True
        return True

    def handed_over(self) -> collections.Counter[str | None]:
        return collections.Counter(message_id for _, message_id in self.calls)


def mail(n: int) -> bytes:
    return (
        f"From: Bob <bob@corp.example>\r\nTo: {USER}\r\nSubject: message {n}\r\n"
        f"Message-ID: <m{n}@corp.example>\r\nDate: Tue, 14 May 2024 09:00:00 +0000\r\n\r\nbody {n}\r\n"
    ).encode()


async def deliver(server: DovecotServer, *numbers: int) -> None:
    for n in numbers:
        await asyncio.to_thread(server.deliver, mail(n), USER)


async def eventually(check: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.02)


def settings(server: DovecotServer, **changes) -> ImapSettings:
    values = dict(host=server.host, port=server.imap_port, username=USER, password=PASSWORD, tls="off", timeout=10.0)
    values.update(changes)
    return ImapSettings(**values)


@contextlib.asynccontextmanager
async def watching(
    server: DovecotServer, inbox: DedupingInbox, state: MemoryState, **options
) -> AsyncIterator[ImapWatcher]:
    imap = options.pop("imap", None) or settings(server)
    options = {"backoff_initial": 0.05, "backoff_max": 0.5, **options}
    watcher = ImapWatcher(imap, inbox, state, **options)
    task = asyncio.create_task(watcher.run())
    try:
        yield watcher
    finally:
        watcher.stop()
        if inbox.gate is not None:
            inbox.gate.set()  # a stopping watcher waits for the callback in flight
        await asyncio.wait_for(task, 10)


def flags_of(server: DovecotServer, message_id: str) -> set[bytes]:
    client = IMAPClient(server.host, port=server.imap_port, ssl=False, timeout=10)
    try:
        client.login(USER, PASSWORD)
        client.select_folder("INBOX", readonly=True)
        uids = client.search(["HEADER", "Message-ID", message_id])
        assert len(uids) == 1, uids
        return set(client.get_flags(uids)[uids[0]])
    finally:
        client.logout()


async def is_seen(server: DovecotServer, message_id: str) -> bool:
    return b"\\Seen" in await asyncio.to_thread(flags_of, server, message_id)


async def wait_seen(server: DovecotServer, message_id: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not await is_seen(server, message_id):
        if time.monotonic() > deadline:
            raise AssertionError(f"{message_id} was not flagged \\Seen within {timeout} s")
        await asyncio.sleep(0.05)


async def test_mail_delivered_while_idling_is_picked_up_within_seconds(dovecot):
    inbox, state = DedupingInbox(), MemoryState()
    async with watching(dovecot, inbox, state) as watcher:
        async with asyncio.timeout(10):
            await watcher.wait_for_status("idle")
        started = time.monotonic()
        await deliver(dovecot, 1)
        await eventually(lambda: "<m1@corp.example>" in inbox.recorded, timeout=5, what="the IDLE wake-up")
        assert time.monotonic() - started < 5
        await wait_seen(dovecot, "<m1@corp.example>")
        await eventually(lambda: state.rows.get(watcher.settings.state_key, (0, 0))[1] == 1, what="saved state")
    assert inbox.handed_over() == {"<m1@corp.example>": 1}


async def test_a_message_is_not_seen_until_the_callback_has_recorded_it(dovecot):
    inbox, state = DedupingInbox(), MemoryState()
    inbox.gate = asyncio.Event()
    async with watching(dovecot, inbox, state) as watcher:
        async with asyncio.timeout(10):
            await watcher.wait_for_status("idle")
        await deliver(dovecot, 1)
        async with asyncio.timeout(10):
            await inbox.called.wait()
        await asyncio.sleep(0.3)  # give a wrong implementation time to set the flag anyway
        assert not await is_seen(dovecot, "<m1@corp.example>")  # fetched with BODY.PEEK[]
        assert state.rows[watcher.settings.state_key][1] == 0  # last_uid has not moved either
        inbox.gate.set()
        await wait_seen(dovecot, "<m1@corp.example>")


async def test_a_message_the_callback_did_not_record_is_handed_over_again(dovecot):
    inbox, state = DedupingInbox(), MemoryState()
    inbox.refuse = 2
    async with watching(dovecot, inbox, state) as watcher:
        async with asyncio.timeout(10):
            await watcher.wait_for_status("idle")
        await deliver(dovecot, 1, 2)
        await eventually(lambda: len(inbox.recorded) == 2, what="both messages recorded")
        await wait_seen(dovecot, "<m2@corp.example>")
    # m1 was refused twice and handed over until it was recorded; m2 only after m1.
    assert [mid for _, mid in inbox.calls][:3] == ["<m1@corp.example>"] * 3
    assert inbox.handed_over()["<m2@corp.example>"] == 1


class FailingState(MemoryState):
    """A state store whose database is down for the first `failures` saves."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures

    async def save(self, mailbox: str, uidvalidity: int, last_uid: int) -> None:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("database is down")
        await super().save(mailbox, uidvalidity, last_uid)


async def test_our_side_failing_is_retried_soon_however_long_the_server_backoff(dovecot):
    # A database outage shows as the callback not recording, then the state store raising. Each
    # ends the session; the server's backoff (minutes here) must not delay the mail once it is back.
    inbox, state = DedupingInbox(), FailingState(failures=2)
    inbox.refuse = 3
    options = {"backoff_initial": 120.0, "backoff_max": 300.0, "local_backoff_max": 0.2}
    async with watching(dovecot, inbox, state, **options) as watcher:
        await deliver(dovecot, 1)
        await eventually(lambda: "<m1@corp.example>" in inbox.recorded, what="m1 recorded")
        await eventually(lambda: state.rows.get(watcher.settings.state_key, (0, 0))[1] >= 1, what="state saved")
        await wait_seen(dovecot, "<m1@corp.example>")
        assert watcher.sessions >= 4  # three refusals and two failed saves, each a new session


async def test_dovecot_killed_and_restarted_loses_nothing_and_doubles_nothing(dovecot):
    inbox, state = DedupingInbox(), MemoryState()
    async with watching(dovecot, inbox, state) as watcher:
        async with asyncio.timeout(10):
            await watcher.wait_for_status("idle")
        await deliver(dovecot, 1)
        await eventually(lambda: "<m1@corp.example>" in inbox.recorded, what="m1")
        await wait_seen(dovecot, "<m1@corp.example>")

        dovecot.kill()
        async with asyncio.timeout(10):
            await watcher.wait_for_status("backoff")
        dovecot.restart()
        await deliver(dovecot, 2, 3)  # possibly before the watcher is back
        await eventually(lambda: len(inbox.recorded) == 3, what="m2 and m3 after the restart")
        assert watcher.sessions >= 2

        # A crash while the callback is recording: it is handed over again and deduped.
        async with asyncio.timeout(10):
            await watcher.wait_for_status("idle")
        inbox.gate = asyncio.Event()
        inbox.called.clear()
        await deliver(dovecot, 4)
        async with asyncio.timeout(10):
            await inbox.called.wait()
        dovecot.kill()
        inbox.gate.set()  # recorded, but the \Seen flag and the saved UID cannot follow
        dovecot.restart()
        await wait_seen(dovecot, "<m4@corp.example>")

    assert set(inbox.recorded) == {f"<m{n}@corp.example>" for n in (1, 2, 3, 4)}
    handed = inbox.handed_over()
    assert handed["<m1@corp.example>"] == handed["<m2@corp.example>"] == handed["<m3@corp.example>"] == 1
    assert handed["<m4@corp.example>"] == 2  # once before the crash, once after: the callback deduped it


async def test_a_uidvalidity_change_hands_nothing_over_as_new_twice(dovecot):
    inbox, state = DedupingInbox(), MemoryState()
    async with watching(dovecot, inbox, state) as watcher:
        async with asyncio.timeout(10):
            await watcher.wait_for_status("idle")
        await deliver(dovecot, 1, 2)
        await eventually(lambda: len(inbox.recorded) == 2, what="m1 and m2")
        key = watcher.settings.state_key
        await eventually(lambda: state.rows.get(key, (0, 0))[1] == 2, what="state saved")
        old_validity = state.rows[key][0]

        new_validity = dovecot.change_uidvalidity(USER)  # restarts the server: the watcher reconnects
        await deliver(dovecot, 3)
        await eventually(lambda: len(inbox.recorded) == 3, what="m3 after the change")
        await eventually(lambda: state.rows[key][0] == new_validity, what="the new UIDVALIDITY saved")
        assert new_validity != old_validity

    handed = inbox.handed_over()
    # The old messages were handed over again (their UIDs mean nothing now) and deduped.
    assert handed["<m1@corp.example>"] == 2 and handed["<m2@corp.example>"] == 2
    assert handed["<m3@corp.example>"] == 1
    assert list(inbox.recorded) == ["<m1@corp.example>", "<m2@corp.example>", "<m3@corp.example>"]


async def test_a_restarted_bot_continues_after_the_last_recorded_message(dovecot):
    inbox, state = DedupingInbox(), MemoryState()
    async with watching(dovecot, inbox, state) as watcher:
        async with asyncio.timeout(10):
            await watcher.wait_for_status("idle")
        await deliver(dovecot, 1)
        await eventually(lambda: len(inbox.recorded) == 1, what="m1")
    await deliver(dovecot, 2)  # arrives while the bot is down
    async with watching(dovecot, inbox, state):
        await eventually(lambda: len(inbox.recorded) == 2, what="m2 after the restart")
    assert inbox.handed_over() == {"<m1@corp.example>": 1, "<m2@corp.example>": 1}


async def test_the_first_run_hands_over_unseen_mail_only(dovecot):
    await deliver(dovecot, 1, 2)

    def mark_first_seen() -> None:
        client = IMAPClient(dovecot.host, port=dovecot.imap_port, ssl=False, timeout=10)
        client.login(USER, PASSWORD)
        client.select_folder("INBOX")
        client.add_flags(client.search(["HEADER", "Message-ID", "<m1@corp.example>"]), [b"\\Seen"])
        client.logout()

    await asyncio.to_thread(mark_first_seen)
    inbox, state = DedupingInbox(), MemoryState()
    async with watching(dovecot, inbox, state) as watcher:
        async with asyncio.timeout(10):
            await watcher.wait_for_status("idle")
        await deliver(dovecot, 3)
        await eventually(lambda: len(inbox.recorded) == 2, what="m2 and m3")
    assert inbox.handed_over() == {"<m2@corp.example>": 1, "<m3@corp.example>": 1}


async def test_without_idle_the_watcher_polls(dovecot_factory):
    server = dovecot_factory(idle=False)
    inbox, state = DedupingInbox(), MemoryState()
    async with watching(server, inbox, state, poll_interval=0.3) as watcher:
        async with asyncio.timeout(10):
            await watcher.wait_for_status("polling")
        await deliver(server, 1)
        await eventually(lambda: len(inbox.recorded) == 1, timeout=5, what="m1 by polling")


@pytest.mark.parametrize("tls", ["ssl", "starttls"])
async def test_the_watcher_connects_over_tls(dovecot_factory, tls):
    import ssl

    server = dovecot_factory(tls=True)
    context = ssl.create_default_context()
    context.load_verify_locations(cadata=server.ca_pem.decode())
    port = server.imaps_port if tls == "ssl" else server.imap_port
    imap = settings(server, tls=tls, port=port, ssl_context=context)
    inbox, state = DedupingInbox(), MemoryState()
    async with watching(server, inbox, state, imap=imap) as watcher:
        async with asyncio.timeout(10):
            await watcher.wait_for_status("idle")
        await deliver(server, 1)
        await eventually(lambda: len(inbox.recorded) == 1, timeout=5, what="m1 over TLS")


async def test_stop_ends_the_watcher_promptly(dovecot):
    watcher = ImapWatcher(settings(dovecot), DedupingInbox(), MemoryState())
    task = asyncio.create_task(watcher.run())
    async with asyncio.timeout(10):
        await watcher.wait_for_status("idle")
    started = time.monotonic()
    watcher.stop()
    await asyncio.wait_for(task, 5)
    assert time.monotonic() - started < 2
    assert watcher.status == "stopped"


async def test_a_wrong_password_is_retried_with_backoff_not_in_a_tight_loop(dovecot):
    inbox, state = DedupingInbox(), MemoryState()
    imap = settings(dovecot, password="wrong")
    async with watching(dovecot, inbox, state, imap=imap, backoff_initial=0.2, backoff_max=0.4) as watcher:
        await asyncio.sleep(1.0)
        assert watcher.sessions == 0
        assert watcher.status in ("backoff", "connecting")


async def test_idle_is_renewed_on_schedule_without_reconnecting(dovecot):
    inbox, state = DedupingInbox(), MemoryState()
    async with watching(dovecot, inbox, state, idle_timeout=0.5) as watcher:
        async with asyncio.timeout(10):
            await watcher.wait_for_status("idle")
        await asyncio.sleep(1.6)  # IDLE re-issued about three times
        await deliver(dovecot, 1)
        await eventually(lambda: len(inbox.recorded) == 1, timeout=5, what="m1 after IDLE renewals")
        assert watcher.sessions == 1


@pytest.mark.parametrize("arrives_during", ["the callback", "marking it seen"])
async def test_mail_arriving_while_another_is_handled_is_not_left_for_the_next_idle_renewal(dovecot, arrives_during):
    """The server announces new mail (`* N EXISTS`) in the answer to whatever command runs when it
    arrives: a FETCH or STORE while we handle the previous message. IDLE then has nothing new to
    say, so the watcher must notice those announcements itself rather than wait minutes for the
    next IDLE renewal."""
    inbox, state = DedupingInbox(), MemoryState()
    inbox.gate = asyncio.Event()
    async with watching(dovecot, inbox, state, idle_timeout=300) as watcher:
        async with asyncio.timeout(10):
            await watcher.wait_for_status("idle")
        await deliver(dovecot, 1)
        async with asyncio.timeout(10):
            await inbox.called.wait()
        await deliver(dovecot, 2)  # arrives while m1 is being handled
        if arrives_during == "marking it seen":
            await asyncio.sleep(0.2)
        inbox.gate.set()
        await eventually(lambda: len(inbox.recorded) == 2, timeout=5, what="m2, announced mid-handling")
        assert inbox.handed_over() == {"<m1@corp.example>": 1, "<m2@corp.example>": 1}
