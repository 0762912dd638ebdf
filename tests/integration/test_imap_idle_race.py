"""Mail announced in the same packet as IDLE's "+ idling" is picked up at once, not at the next
IDLE renewal.

Dovecot does this when mail lands just before IDLE, but only now and then; a scripted IMAP server
on loopback makes it happen every time: it answers the first IDLE with the continuation and the
EXISTS in one write. It speaks just the commands the watcher sends, as RFC 3501 and 2177 say.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from channels.email.imap_watch import ImapSettings, ImapWatcher

MESSAGE = (
    b"From: Bob <bob@corp.example>\r\nTo: agent@example.test\r\nSubject: hello\r\n"
    b"Message-ID: <m1@corp.example>\r\n\r\nbody\r\n"
)


class ScriptedImap:
    """One mailbox that is empty until the first IDLE, which announces message 1 with "+ idling"."""

    def __init__(self) -> None:
        self.arrived = False
        self.seen = False
        self.idles = 0

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"* OK [CAPABILITY IMAP4rev1 IDLE UIDPLUS] ready\r\n")
        while line := await reader.readline():
            tag, _, command = line.decode().rstrip("\r\n").partition(" ")
            verb = command.upper()
            if verb.startswith("CAPABILITY"):
                writer.write(f"* CAPABILITY IMAP4rev1 IDLE UIDPLUS\r\n{tag} OK done\r\n".encode())
            elif verb.startswith("LOGIN"):
                writer.write(f"{tag} OK logged in\r\n".encode())
            elif verb.startswith("SELECT"):
                count = int(self.arrived)
                writer.write(
                    f"* {count} EXISTS\r\n* 0 RECENT\r\n* OK [UIDVALIDITY 7] ok\r\n* OK [UIDNEXT {count + 1}] ok\r\n"
                    f"* FLAGS (\\Seen)\r\n{tag} OK [READ-WRITE] selected\r\n".encode()
                )
            elif verb.startswith("UID SEARCH"):
                writer.write(f"* SEARCH{self._search(verb)}\r\n{tag} OK searched\r\n".encode())
            elif verb.startswith("UID FETCH"):
                writer.write(b"* 1 FETCH (UID 1 BODY[] {%d}\r\n%s)\r\n" % (len(MESSAGE), MESSAGE))
                writer.write(f"{tag} OK fetched\r\n".encode())
            elif verb.startswith("UID STORE"):
                self.seen = True
                writer.write(f"{tag} OK stored\r\n".encode())
            elif verb == "IDLE":
                self.idles += 1
                if not self.arrived:
                    self.arrived = True
                    writer.write(b"+ idling\r\n* 1 EXISTS\r\n")  # one write: one segment on loopback
                else:
                    writer.write(b"+ idling\r\n")
                await writer.drain()
                if (await reader.readline()).strip().upper() == b"DONE":
                    writer.write(f"{tag} OK idle done\r\n".encode())
            elif verb == "LOGOUT":
                writer.write(f"* BYE bye\r\n{tag} OK logged out\r\n".encode())
                await writer.drain()
                break
            else:
                writer.write(f"{tag} OK\r\n".encode())
            await writer.drain()
        writer.close()

    def _search(self, criteria: str) -> str:
        if not self.arrived or ("UNSEEN" in criteria and self.seen):
            return ""
        return " 1"  # ALL, UNSEEN, or "UID n:*", which names the last message even past it (RFC 3501)


@pytest.fixture
async def scripted() -> AsyncIterator[tuple[ScriptedImap, int]]:
    imap = ScriptedImap()
    server = await asyncio.start_server(imap.serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        yield imap, port


class Inbox:
    def __init__(self) -> None:
        self.recorded: list[int] = []
        self.got_one = asyncio.Event()

    async def __call__(self, uid: int, raw: bytes) -> bool:
        self.recorded.append(uid)
        self.got_one.set()
        return True


class State:
    def __init__(self) -> None:
        self.saved: tuple[int, int] | None = None

    async def load(self, mailbox: str) -> tuple[int, int] | None:
        return self.saved

    async def save(self, mailbox: str, uidvalidity: int, last_uid: int) -> None:
        self.saved = (uidvalidity, last_uid)


async def test_mail_announced_with_the_idle_continuation_is_picked_up_at_once(
    scripted: tuple[ScriptedImap, int],
) -> None:
    imap, port = scripted
    settings = ImapSettings(host="127.0.0.1", port=port, username="agent", password="pw", tls="off", timeout=5)
    inbox = Inbox()
    watcher = ImapWatcher(settings, inbox, State(), idle_timeout=300.0)
    task = asyncio.create_task(watcher.run())
    try:
        async with asyncio.timeout(5):  # without looking at the buffer: the IDLE renewal, 300 s
            await inbox.got_one.wait()
    finally:
        watcher.stop()
        await asyncio.wait_for(task, 10)
    assert inbox.recorded == [1]
    assert imap.seen
    assert watcher.sessions == 1  # no reconnect was needed
