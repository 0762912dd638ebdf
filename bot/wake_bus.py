"""Wake-ups between the processes of one `signoff serve`, over UNIX datagram sockets.

The ingress (Slack, the API, mail) records what people send and tells a worker process that a
thread, the intake or the outbox has work; a worker process that builds threads tells the worker
that owns each one. A wake is only a hint: the database is the truth, and every worker process
also polls it (`SIGNOFF_POLL_INTERVAL`). A datagram lost to a full buffer or to a worker that is
restarting costs one poll interval, nothing more, and sending one never blocks the sender.

Each thread is woken in one worker process, chosen by a hash of its id, so processes do not race
for the same lease; the socket of worker `i` is `worker-<i>.sock` in a private directory that
the supervisor makes (`SIGNOFF_WAKE_DIR`).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import socket
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

THREAD = b"t"
INTAKE = b"i"
OUTBOX = b"o"
SEPARATOR = b","
MAX_DATAGRAM = 4096
RETRY_SECONDS = 0.005
MAX_PENDING = 100_000  # wakes kept for a worker that is not reading; beyond it, its poll finds the work


def socket_path(directory: Path, index: int) -> Path:
    return directory / f"worker-{index}.sock"


def owner_of(thread_id: str, workers: int) -> int:
    """The worker process that is woken for a thread: stable across processes and restarts."""
    return zlib.crc32(thread_id.encode()) % workers


class WakeSender:
    """Sends wake-ups to the worker processes; never blocks.

    Called on an event loop, wakes are gathered and sent once per loop turn, many thread ids to a
    datagram: the kernel queues only a few datagrams per socket (net.unix.max_dgram_qlen, often
    10), so a burst of one datagram per thread would mostly be dropped. A send the queue refuses
    is tried again a few milliseconds later. Called from another thread, a wake is sent at once.
    """

    def __init__(self, directory: Path, workers: int) -> None:
        self.directory = directory
        self.workers = workers
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._socket.setblocking(False)
        self._turn = itertools.count()
        self._pending: list[list[bytes]] = [[] for _ in range(workers)]
        self._flags: list[set[bytes]] = [set() for _ in range(workers)]
        self._scheduled = False

    def thread(self, thread_id: str) -> None:
        if thread_id:
            self._queue(owner_of(thread_id, self.workers), THREAD + thread_id.encode()[: MAX_DATAGRAM // 2])

    def intake(self) -> None:
        self._queue(next(self._turn) % self.workers, INTAKE)

    def outbox(self) -> None:
        self._queue(next(self._turn) % self.workers, OUTBOX)

    def _queue(self, index: int, message: bytes) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._send(index, message)
            return
        self._keep(index, message)
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._flush, loop)

    def _flush(self, loop: asyncio.AbstractEventLoop) -> None:
        self._scheduled = False
        for index in range(self.workers):
            messages = [*sorted(self._flags[index]), *self._pending[index]]
            self._flags[index].clear()
            self._pending[index] = []
            for start, batch in _batches(messages):
                if not self._send(index, SEPARATOR.join(batch)):
                    # Its queue is full: the rest waits for the next try (for a worker that is gone
                    # and never reads, MAX_PENDING bounds what is kept).
                    for message in messages[start:]:
                        self._keep(index, message)
                    if not self._scheduled:
                        self._scheduled = True
                        loop.call_later(RETRY_SECONDS, self._flush, loop)
                    break

    def _keep(self, index: int, message: bytes) -> None:
        if message in (INTAKE, OUTBOX):
            self._flags[index].add(message)
        elif len(self._pending[index]) < MAX_PENDING:
            self._pending[index].append(message)

    def _send(self, index: int, datagram: bytes) -> bool:
        try:
            self._socket.sendto(datagram, str(socket_path(self.directory, index)))
        except BlockingIOError:
            return False
        except OSError:
            pass  # not listening (starting, restarting): its first poll finds the work
        return True

    def close(self) -> None:
        self._socket.close()


def _batches(messages: list[bytes]) -> Iterator[tuple[int, list[bytes]]]:
    """The messages in runs that fit a datagram once joined: (where the run starts, the run)."""
    start, size = 0, 0
    for i, message in enumerate(messages):
        if i > start and size + len(message) + 1 > MAX_DATAGRAM:
            yield start, messages[start:i]
            start, size = i, 0
        size += len(message) + 1
    if start < len(messages):
        yield start, messages[start:]


@dataclass
class WakeHandlers:
    thread: Callable[[str], None]
    intake: Callable[[], None]
    outbox: Callable[[], None]


class _Receiver(asyncio.DatagramProtocol):
    def __init__(self, handlers: WakeHandlers) -> None:
        self.handlers = handlers

    def datagram_received(self, data: bytes, addr: object) -> None:
        for message in data.split(SEPARATOR):
            kind, rest = message[:1], message[1:]
            if kind == THREAD:
                self.handlers.thread(rest.decode(errors="replace"))
            elif kind == INTAKE:
                self.handlers.intake()
            elif kind == OUTBOX:
                self.handlers.outbox()


async def receive_wakes(directory: Path, index: int, handlers: WakeHandlers) -> None:
    """Listen on worker `index`'s socket until cancelled."""
    path = socket_path(directory, index)
    with contextlib.suppress(FileNotFoundError):
        path.unlink()  # left by this worker's previous life
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    os.chmod(path, 0o600)
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(lambda: _Receiver(handlers), sock=sock)
    try:
        await asyncio.Future()
    finally:
        transport.close()
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
