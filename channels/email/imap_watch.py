"""Watch an IMAP mailbox and hand each new message over exactly once, durably.

imapclient is synchronous, so the watcher runs the whole IMAP session in one dedicated thread
(an IMAP connection is not thread-safe) and calls back into the event loop for the async
`on_message` callback and the state store.

Contract
    on_message(uid, raw) -> Awaitable[bool]
        Return True once the message is durably recorded, or once it is known to be a duplicate
        (the callback dedupes by Message-ID: after a reconnect or a UIDVALIDITY change the same
        message can be handed over again). Only then is the message flagged \\Seen and the
        mailbox's last UID saved. Return `"quarantined"` for a message recorded as one that
        cannot be parsed: it is flagged \\Seen and \\Flagged, so people see it in the mailbox.
        False or an exception means "not recorded": nothing is marked,
        and the watcher retries from that message after a backoff.
    state_store.load(mailbox) -> (uidvalidity, last_uid) | None
    state_store.save(mailbox, uidvalidity, last_uid)
        `mailbox` is `ImapSettings.state_key` (account, server and folder).

Which messages are handed over
    normal        UIDs above the saved last_uid, in order; last_uid advances per message.
    first run     (no saved state) the unseen messages, then everything that arrives.
    UIDVALIDITY   (the server renumbered the mailbox) every message in the folder again: saved
    changed       UIDs mean nothing now, and only the callback's Message-ID dedupe tells old from
                  new. The new UIDVALIDITY is saved only after that scan completes.

Messages are fetched with BODY.PEEK[] (RFC822 would set \\Seen before we recorded anything). The
watcher waits with IDLE, re-issued every `idle_timeout` seconds (servers may drop IDLE after 29
minutes), or polls every `poll_interval` seconds when the server has no IDLE. Any failure (socket
errors, IMAP errors, a dropped connection, a callback that did not record) closes the session and
reconnects after an exponential, capped, jittered backoff (`retry_backoff.Backoff`: the n-th
failure in a row waits between half and all of min(backoff_max, backoff_initial * 2**(n-1)); a
session that got through a sync starts the count over). When it was our side that failed (the
callback did not record, the state store raised: typically the database is down), the backoff is
capped lower (`local_backoff_max`), so mail is picked up soon after the database is back.
`stop()` ends it within a second.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import random
import ssl
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, TypeVar

from imapclient import IMAPClient
from imapclient.imapclient import FLAGGED, SEEN

from retry_backoff import Backoff

logger = logging.getLogger(__name__)

TlsMode = Literal["off", "starttls", "ssl"]
OnMessage = Callable[[int, bytes], Awaitable[bool | str]]
QUARANTINED = "quarantined"
Status = Literal["starting", "connecting", "syncing", "idle", "polling", "backoff", "stopped"]
T = TypeVar("T")

_SLICE = 0.5  # seconds between checks for stop() while waiting


class MailboxStateStore(Protocol):
    async def load(self, mailbox: str) -> tuple[int, int] | None: ...

    async def save(self, mailbox: str, uidvalidity: int, last_uid: int) -> None: ...


@dataclass(frozen=True)
class ImapSettings:
    host: str
    port: int = 993
    username: str = ""
    password: str = field(default="", repr=False)
    tls: TlsMode = "ssl"
    ssl_context: ssl.SSLContext | None = field(default=None, repr=False)
    mailbox: str = "INBOX"
    timeout: float = 60.0  # socket timeout for each command

    @property
    def state_key(self) -> str:
        return f"imap://{self.username}@{self.host}:{self.port}/{self.mailbox}"


class _NotRecorded(Exception):
    """The callback did not record a message; retry the session later."""


class _Stopped(Exception):
    pass


class ImapWatcher:
    """Hands every message arriving in one IMAP folder to `on_message`. See the module docstring."""

    def __init__(
        self,
        settings: ImapSettings,
        on_message: OnMessage,
        state_store: MailboxStateStore,
        *,
        idle_timeout: float = 300.0,
        poll_interval: float = 60.0,
        backoff_initial: float = 1.0,
        backoff_max: float = 300.0,
        local_backoff_max: float = 30.0,
        batch_size: int = 20,
        rng: Callable[[], float] = random.random,
    ) -> None:
        if settings.tls not in ("off", "starttls", "ssl"):
            raise ValueError(f"unknown IMAP TLS mode {settings.tls!r}: use off, starttls or ssl")
        self.settings = settings
        self._on_message = on_message
        self._state_store = state_store
        self.idle_timeout = idle_timeout
        self.poll_interval = poll_interval
        self.backoff = Backoff(backoff_initial, backoff_max, rng=rng)
        self.local_backoff_max = local_backoff_max
        self.batch_size = batch_size
        self._stopping = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self.status: Status = "starting"
        self.sessions = 0  # successful logins so far; a reconnect makes it grow
        self._healthy = False  # this session got through a sync: the backoff starts over
        self._local_failure = False  # the last session ended because our side failed, not the server
        self._status_changed = asyncio.Event()

    # -- public -------------------------------------------------------------------------------

    async def run(self) -> None:
        """Watch until `stop()`; reconnects on its own. Cancelling it stops the watcher too."""
        if self._thread is not None:
            raise RuntimeError("ImapWatcher.run() was already called")
        loop = asyncio.get_running_loop()
        self._loop = loop
        done: asyncio.Future[None] = loop.create_future()

        def finished() -> None:
            if not done.done():
                done.set_result(None)

        def target() -> None:
            try:
                self._main()
            finally:
                try:
                    loop.call_soon_threadsafe(finished)
                except RuntimeError:  # the loop is already closed
                    pass

        self._thread = threading.Thread(target=target, name=f"imap-watch:{self.settings.host}", daemon=True)
        self._thread.start()
        try:
            await asyncio.shield(done)
        except asyncio.CancelledError:
            self.stop()
            await asyncio.shield(done)
            raise

    def stop(self) -> None:
        """Ask the watcher to log out and return from `run()` (thread-safe, returns at once)."""
        self._stopping.set()

    async def wait_for_status(self, status: Status) -> None:
        """Wait until the watcher reports `status` (bound it with `asyncio.timeout`)."""
        while True:
            changed = self._status_changed
            if self.status == status:
                return
            await changed.wait()

    def _set_status(self, status: Status) -> None:
        """Called from the session thread; wakes `wait_for_status` on the loop."""
        self.status = status
        loop = self._loop
        if loop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(self._notify_status)
            except RuntimeError:  # the loop closed meanwhile
                pass

    def _notify_status(self) -> None:
        changed, self._status_changed = self._status_changed, asyncio.Event()
        changed.set()

    # -- the session thread -------------------------------------------------------------------

    def _main(self) -> None:
        attempt = 0
        while not self._stopping.is_set():
            client: IMAPClient | None = None
            self._local_failure = False
            try:
                self._set_status("connecting")
                client = self._connect()
                self.sessions += 1
                self._session(client)
            except _Stopped:
                pass
            except _NotRecorded as error:
                self._local_failure = True
                logger.warning("IMAP %s: %s; retrying", self.settings.state_key, error)
            except Exception as error:  # noqa: BLE001 - any failure means: reconnect later
                logger.warning("IMAP %s: session ended: %s: %s", self.settings.state_key, type(error).__name__, error)
            finally:
                if client is not None:
                    self._close(client)
            if self._stopping.is_set():
                break
            if self._healthy:
                attempt = 0
            attempt += 1
            delay = self.backoff.delay(attempt)
            if self._local_failure:
                delay = min(delay, self.local_backoff_max)
            self._set_status("backoff")
            logger.info("IMAP %s: reconnecting in %.1f s", self.settings.state_key, delay)
            self._stopping.wait(delay)
        self._set_status("stopped")

    def _connect(self) -> IMAPClient:
        client = open_imap(self.settings)
        try:
            client.login(self.settings.username, self.settings.password)
        except BaseException:
            close_imap(client)
            raise
        return client

    def _session(self, client: IMAPClient) -> None:
        self._healthy = False
        selected = client.select_folder(self.settings.mailbox)
        uidvalidity = int(selected[b"UIDVALIDITY"])
        key = self.settings.state_key
        state = self._call(self._state_store.load(key))
        has_idle = client.has_capability("IDLE")
        self._set_status("syncing")
        if state is None:
            logger.info("IMAP %s: first run, handing over unseen messages", key)
            last_uid = self._scan(client, uidvalidity, unseen_only=True)
        elif state[0] != uidvalidity:
            logger.warning(
                "IMAP %s: UIDVALIDITY changed (%s -> %s): rescanning the folder, duplicates are dropped by Message-ID",
                key,
                state[0],
                uidvalidity,
            )
            last_uid = self._scan(client, uidvalidity, unseen_only=False)
        else:
            last_uid = state[1]
        while True:
            self._check_stop()
            self._set_status("syncing")
            last_uid = self._sync(client, uidvalidity, last_uid)
            self._healthy = True
            if _new_mail_announced(client):
                continue  # announced in the answer to a FETCH or STORE: IDLE would not repeat it
            if has_idle:
                self._idle(client)
            else:
                self._poll(client)

    def _scan(self, client: IMAPClient, uidvalidity: int, *, unseen_only: bool) -> int:
        """Hand over the folder's (unseen) messages; save the new state only once all are recorded.

        The high-water mark comes from a SEARCH made before the scan's own, never from the SELECT's
        UIDNEXT: a message being delivered while the folder is opened can already count in UIDNEXT
        yet be missing from the searches, and would be skipped for good.
        """
        existing: list[int] = client.search(["ALL"])
        uids: list[int] = client.search(["UNSEEN"]) if unseen_only else existing
        handled = self._handle(client, sorted(uids), uidvalidity, save_each=False)
        highest = max([*existing, *handled, 0])
        self._call(self._state_store.save(self.settings.state_key, uidvalidity, highest))
        return highest

    def _sync(self, client: IMAPClient, uidvalidity: int, last_uid: int) -> int:
        _new_mail_announced(client)  # what was announced so far, the SEARCH below finds
        uids = sorted(uid for uid in client.search(["UID", f"{last_uid + 1}:*"]) if uid > last_uid)
        handled = self._handle(client, uids, uidvalidity, save_each=True)
        return max([last_uid, *handled])

    def _handle(self, client: IMAPClient, uids: list[int], uidvalidity: int, *, save_each: bool) -> list[int]:
        handled: list[int] = []
        for start in range(0, len(uids), self.batch_size):
            batch = uids[start : start + self.batch_size]
            fetched = client.fetch(batch, ["BODY.PEEK[]"])
            for uid in batch:
                self._check_stop()
                raw = fetched.get(uid, {}).get(b"BODY[]")
                if raw is None:  # expunged between SEARCH and FETCH
                    handled.append(uid)
                    continue
                outcome = self._deliver(uid, bytes(raw))
                if not outcome:
                    raise _NotRecorded(f"message UID {uid} was not recorded by the callback")
                flags = [SEEN, FLAGGED] if outcome == QUARANTINED else [SEEN]
                client.add_flags([uid], flags, silent=True)
                handled.append(uid)
                if save_each:
                    self._call(self._state_store.save(self.settings.state_key, uidvalidity, uid))
        return handled

    def _deliver(self, uid: int, raw: bytes) -> bool | str:
        try:
            return self._call(self._on_message(uid, raw))
        except _Stopped:
            raise
        except Exception:  # noqa: BLE001 - a failing callback must not kill the watcher
            logger.exception("IMAP %s: on_message failed for UID %s", self.settings.state_key, uid)
            return False

    def _idle(self, client: IMAPClient) -> None:
        self._set_status("idle")
        client.idle()
        try:
            if _announced_with_idle(client):
                logger.debug("IMAP %s: new mail announced with IDLE's continuation", self.settings.state_key)
                return
            deadline = time.monotonic() + self.idle_timeout
            while time.monotonic() < deadline:
                if self._stopping.is_set():
                    return
                wait = min(_SLICE, max(0.0, deadline - time.monotonic()))
                started = time.monotonic()
                responses = client.idle_check(timeout=wait)
                if any(_is_new_mail(response) for response in responses):
                    return
                if not responses and time.monotonic() - started < wait / 2:
                    # idle_check swallows EOF: the socket was readable, yet nothing came. Leave
                    # IDLE; a dead connection then fails loudly in idle_done() and we reconnect.
                    return
        finally:
            client.idle_done()

    def _poll(self, client: IMAPClient) -> None:
        self._set_status("polling")
        if self._stopping.wait(self.poll_interval):
            return
        client.noop()

    def _check_stop(self) -> None:
        if self._stopping.is_set():
            raise _Stopped

    def _call(self, awaitable: Awaitable[T]) -> T:
        """Run an awaitable on the watcher's event loop and wait for its result."""
        loop = self._loop
        assert loop is not None
        future = asyncio.run_coroutine_threadsafe(_awaited(awaitable), loop)
        while True:
            try:
                return future.result(timeout=_SLICE)
            except concurrent.futures.TimeoutError:
                if loop.is_closed():
                    raise _Stopped from None
            except Exception:
                self._local_failure = True  # the callback or the state store failed, not the server
                raise

    def _close(self, client: IMAPClient) -> None:
        close_imap(client)


def open_imap(settings: ImapSettings) -> IMAPClient:
    """Connect in the configured TLS mode (STARTTLS done, not logged in); closes what it opened on failure."""
    client = IMAPClient(
        settings.host,
        port=settings.port,
        ssl=settings.tls == "ssl",
        ssl_context=settings.ssl_context if settings.tls == "ssl" else None,
        timeout=settings.timeout,
    )
    try:
        if settings.tls == "starttls":
            client.starttls(ssl_context=settings.ssl_context)
    except BaseException:
        close_imap(client)
        raise
    return client


def close_imap(client: IMAPClient) -> None:
    """Log out, or just drop the connection when it is already gone."""
    try:
        client.logout()
    except Exception:  # noqa: BLE001 - the connection may already be gone
        try:
            client.shutdown()
        except Exception:  # noqa: BLE001
            pass


async def _awaited(awaitable: Awaitable[T]) -> T:
    return await awaitable


def _new_mail_announced(client: IMAPClient) -> bool:
    """Did the server announce new mail (`* N EXISTS`) in the answer to another command?

    A server reports new mail once, in the answer to whatever command runs when it arrives; imaplib
    keeps such unsolicited responses aside, and imapclient offers no public way to read them. Mail
    that arrives while we FETCH or STORE would otherwise wait for the next IDLE renewal (minutes),
    because IDLE only reports what is new since the last announcement. Reading clears them.
    """
    stash: dict[str, list[Any]] = client._imap.untagged_responses
    return stash.pop("EXISTS", None) is not None


def _announced_with_idle(client: IMAPClient) -> bool:
    """Did new mail come in the same packet as IDLE's "+ idling"?

    A server announces mail that arrived just before IDLE right after its continuation line, often
    in the same TCP segment. Reading the continuation pulls both into imaplib's buffer, and
    `idle_check` waits on the socket, which has nothing more to say: the mail would wait for the
    next IDLE renewal (minutes). So look at what is already buffered, without blocking.
    """
    sock = client.socket()
    sock.setblocking(False)
    try:
        buffered = client._imap.file.peek()
    except (BlockingIOError, ssl.SSLWantReadError):
        buffered = b""
    finally:
        sock.setblocking(True)
        client._set_read_timeout()
    return b" EXISTS\r\n" in (buffered or b"")


def _is_new_mail(response: Any) -> bool:
    return isinstance(response, tuple) and len(response) >= 2 and response[1] == b"EXISTS"
