"""An IMAP server that stays broken for days only makes the watcher wait longer: it never gives up.

The watcher's reconnect count keeps growing while the server is down (at the 300 s cap, 1,024
failures is about three days). The schedule once computed `initial * 2.0 ** failures` before
capping it, and `2.0 ** 1024` overflows a float: the watcher's thread died on an OverflowError and
mail was never read again until a restart. Here a real TCP server on loopback drops every
connection at once and a tiny backoff gets the watcher through 1,100 failures in seconds.
"""

from __future__ import annotations

import asyncio
import time

from channels.email.imap_watch import ImapSettings, ImapWatcher

FAILURES = 1_100


async def test_the_watcher_keeps_reconnecting_after_a_thousand_failures() -> None:
    connections = 0

    async def drop(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        writer.close()  # a server that hangs up before its greeting

    server = await asyncio.start_server(drop, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]

    async def never(uid: int, raw: bytes) -> bool:
        raise AssertionError("no message can arrive from a server that hangs up")

    class NoState:
        async def load(self, mailbox: str) -> tuple[int, int] | None:
            return None

        async def save(self, mailbox: str, uidvalidity: int, last_uid: int) -> None:
            raise AssertionError("nothing to save")

    imap = ImapSettings(host="127.0.0.1", port=port, username="a@example.test", password="pw", tls="off", timeout=5.0)
    watcher = ImapWatcher(imap, never, NoState(), backoff_initial=0.0001, backoff_max=0.0001)
    task = asyncio.create_task(watcher.run())
    try:
        deadline = time.monotonic() + 120
        while connections < FAILURES and not task.done():
            assert time.monotonic() < deadline, f"only {connections} reconnects in 120 s"
            await asyncio.sleep(0.05)
        assert not task.done(), f"the watcher stopped by itself after {connections} failed sessions: {task}"
        assert connections >= FAILURES
    finally:
        watcher.stop()
        await asyncio.wait_for(task, 10)
        server.close()
        await server.wait_closed()
