"""Inbound mail is parsed in a child process, with a time limit.

Parsing is CPU work in C regex engines and pure-Python parsers that hold the GIL: done in the
server's process, one hostile body stalls every request (`/healthz` included) for as long as it
takes. In a child process it costs the server nothing, and a parse that takes longer than
`timeout` seconds is stopped by killing the child (the next parse starts a fresh one).

    ParseWorker.parse(raw, max_bytes=...)     -> InboundEmail     (parse.parse_email)
    ParseWorker.parse(raw, headers_only=True) -> InboundEmail     (parse.parse_headers)
        raises ParseTimeout    the child did not answer within `timeout` seconds (it was killed)
        raises ParseFailed     the parser raised, or the child died (out of memory, a crash)
        raises ParserUnavailable   the child could not be started (not the message's fault)

`InlineParser` has the same interface and parses in a worker thread of this process, with no time
limit: for tools and tests that parse trusted mail.

The child is `python -m channels.email._parse_child`; the two talk over its stdin and stdout with
length-prefixed pickles (the child is our own program, so its pickles are trusted).
"""

from __future__ import annotations

import asyncio
import logging
import pickle
import struct
import subprocess
import sys
import threading
from typing import IO, Protocol

from channels.email.errors import EmailError, ParseFailed, ParserUnavailable, ParseTimeout
from channels.email.parse import DEFAULT_MAX_BYTES, InboundEmail, parse_email, parse_headers

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 60.0
STARTUP_TIMEOUT = 120.0  # a child's imports, on a loaded machine; not part of a message's time limit
_READY = b"signoff-parser-ready\n"
_FRAME = struct.Struct(">Q")


class MailParser(Protocol):
    async def parse(
        self, raw: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES, headers_only: bool = False
    ) -> InboundEmail: ...


class InlineParser:
    """Parses in a worker thread of this process; no time limit (trusted mail only)."""

    async def parse(
        self, raw: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES, headers_only: bool = False
    ) -> InboundEmail:
        try:
            if headers_only:
                return await asyncio.to_thread(parse_headers, raw)
            return await asyncio.to_thread(parse_email, raw, max_bytes=max_bytes)
        except EmailError:
            raise
        except Exception as exc:  # noqa: BLE001 - any parser failure is the message's, not ours
            raise ParseFailed(f"{type(exc).__name__}: {exc}") from exc


class ParseWorker:
    """One child process that parses one message at a time. See the module docstring."""

    def __init__(self, *, timeout: float = DEFAULT_TIMEOUT, python: str = sys.executable) -> None:
        self.timeout = timeout
        self.python = python
        self._child: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()  # one message at a time through the pipe
        self.started = 0  # children started so far (a killed child is replaced)

    async def parse(
        self, raw: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES, headers_only: bool = False
    ) -> InboundEmail:
        request = pickle.dumps(("headers" if headers_only else "full", raw, max_bytes), protocol=5)
        return await asyncio.to_thread(self._roundtrip, request)

    async def start(self) -> None:
        """Start the child now (it takes a second or so to import), not with the first message."""
        await asyncio.to_thread(self._locked_start)

    def _locked_start(self) -> None:
        with self._lock:
            self._ensure_child()

    def close(self) -> None:
        with self._lock:
            self._stop_child()

    # -- the child ------------------------------------------------------------------------------

    def _roundtrip(self, request: bytes) -> InboundEmail:
        with self._lock:
            child = self._ensure_child()
            timed_out = threading.Event()

            def kill() -> None:
                timed_out.set()
                child.kill()

            timer = threading.Timer(self.timeout, kill)
            timer.daemon = True
            timer.start()
            try:
                assert child.stdin is not None and child.stdout is not None
                child.stdin.write(_FRAME.pack(len(request)) + request)
                child.stdin.flush()
                answer = _read_frame(child.stdout)
            except (OSError, EOFError, ValueError) as exc:
                self._stop_child()
                if timed_out.is_set():
                    raise ParseTimeout(f"parsing took longer than {self.timeout:g} s; stopped") from None
                raise ParseFailed(f"the parser process died ({type(exc).__name__}: {exc})") from None
            finally:
                timer.cancel()
            if timed_out.is_set():  # answered just as the timer fired: the child is gone anyway
                self._stop_child()
        status, value = pickle.loads(answer)
        if status == "ok" and isinstance(value, InboundEmail):
            return value
        raise ParseFailed(str(value))

    def _ensure_child(self) -> subprocess.Popen[bytes]:
        if self._child is not None and self._child.poll() is None:
            return self._child
        self._stop_child()
        child = subprocess.Popen(
            [self.python, "-m", "channels.email._parse_child"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            close_fds=True,
        )
        self._child = child
        self.started += 1
        timer = threading.Timer(STARTUP_TIMEOUT, child.kill)
        timer.daemon = True
        timer.start()
        try:
            assert child.stdout is not None
            ready = child.stdout.readline()
        finally:
            timer.cancel()
        if ready != _READY:
            self._stop_child()
            raise ParserUnavailable(f"the parser process did not start (it said {ready[:200]!r})")
        return child

    def _stop_child(self) -> None:
        child, self._child = self._child, None
        if child is None:
            return
        try:
            child.kill()
        except OSError:
            pass
        for stream in (child.stdin, child.stdout):
            try:
                if stream is not None:
                    stream.close()
            except OSError:
                pass
        try:
            child.wait(timeout=5)
        except subprocess.TimeoutExpired:
            log.warning("the mail parser process %d did not exit after SIGKILL", child.pid)


def _read_frame(stream: IO[bytes]) -> bytes:
    head = _read_exact(stream, _FRAME.size)
    return _read_exact(stream, _FRAME.unpack(head)[0])


def _read_exact(stream: IO[bytes], size: int) -> bytes:
    chunks: list[bytes] = []
    while size:
        chunk = stream.read(size)
        if not chunk:
            raise EOFError("the parser process closed its output")
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)
