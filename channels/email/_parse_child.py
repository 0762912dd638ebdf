"""The mail parser's child process (see `parse_worker`): reads requests on stdin, answers on stdout.

Each request is a length-prefixed pickle of `(kind, raw, max_bytes)`; each answer one of
`("ok", InboundEmail)` or `("error", "<type>: <message>")`.
"""

from __future__ import annotations

import pickle
import struct
import sys
from typing import IO

from channels.email.parse import parse_email, parse_headers

_FRAME = struct.Struct(">Q")
READY = b"signoff-parser-ready\n"


def serve(requests: IO[bytes], answers: IO[bytes]) -> None:
    answers.write(READY)  # imports done: the server's time limit counts parsing only
    answers.flush()
    while True:
        head = requests.read(_FRAME.size)
        if len(head) < _FRAME.size:
            return  # the server closed the pipe: done
        kind, raw, max_bytes = pickle.loads(_read(requests, _FRAME.unpack(head)[0]))
        try:
            parsed = parse_headers(raw) if kind == "headers" else parse_email(raw, max_bytes=max_bytes)
            answer: tuple[str, object] = ("ok", parsed)
        except Exception as exc:  # noqa: BLE001 - reported to the server, which quarantines the mail
            answer = ("error", f"{type(exc).__name__}: {exc}"[:1000])
        data = pickle.dumps(answer, protocol=5)
        answers.write(_FRAME.pack(len(data)) + data)
        answers.flush()


def _read(stream: IO[bytes], size: int) -> bytes:
    chunks: list[bytes] = []
    while size:
        chunk = stream.read(size)
        if not chunk:
            raise SystemExit(0)
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


if __name__ == "__main__":
    answers = sys.stdout.buffer
    sys.stdout = sys.stderr  # a stray print must not corrupt the answers
    serve(sys.stdin.buffer, answers)
