"""8. Email parse time: does parsing an inbound mail cost time linear in its size, up to the limit?

For bodies shaped as plain prose, runs of blank lines, lines that start with "On " (the shapes that
made the reply parser take more than quadratic time, issue 22.1) and HTML, measure
`channels.email.parse.parse_email` (the whole parse: MIME, decoding, HTML to text, invisible
characters, reply stripping) on messages of 1 KB up to SIGNOFF_EMAIL_MAX_BYTES' default (10 MB):
- ours: parse time per KB at the largest size; baseline: per KB at 1 KB (linear means a ratio of
  1 or less: the fixed cost per message only shrinks);
- ours: parse time at 1 MB; baseline: the stdlib email parser reading the same bytes and decoding
  the same body part (`BytesParser(policy=default)`, `get_body`, `get_content`), what any mail
  reader pays at least.
Medians of alternating rounds.

Run: python -m bench.email_parse [--smoke]
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from email import policy
from email.parser import BytesParser

from bench._common import Row, alternate, median, table

NAME = "8 email parse"
LIMIT = 10_000_000


def _prose(size: int) -> bytes:
    line = b"The quick brown fox jumps over the lazy dog, and the dog does not mind at all. " * 6 + b"\r\n"
    return line * max(1, size // len(line))


def _blank_runs(size: int) -> bytes:
    return b"hi\r\n" + b"\r\n" * max(1, size // 2 - 4) + b"bye\r\n"


def _on_lines(size: int) -> bytes:
    line = b"On " + b"a" * 995 + b"\r\n"
    return line * max(1, size // len(line))


def _html(size: int) -> bytes:
    chunk = b"<p>hello <b>world</b>, <i>again</i></p>\r\n"
    return chunk * max(1, size // len(chunk))


SHAPES: dict[str, tuple[Callable[[int], bytes], bytes]] = {
    "prose": (_prose, b"text/plain"),
    "blank lines": (_blank_runs, b"text/plain"),
    '"On " lines': (_on_lines, b"text/plain"),
    "HTML": (_html, b"text/html"),
}


def message(shape: str, size: int) -> bytes:
    body, content_type = SHAPES[shape]
    head = (
        b"From: Bob <bob@corp.example>\r\nTo: agent@example.test\r\nSubject: bench\r\n"
        b"Message-ID: <bench@corp.example>\r\nContent-Type: " + content_type + b"; charset=utf-8\r\n\r\n"
    )
    return head + body(size - len(head) - 8)


def _ours(raw: bytes) -> Callable[[], float]:
    from channels.email.parse import parse_email

    def measure() -> float:
        started = time.perf_counter()
        parse_email(raw, max_bytes=LIMIT)
        return time.perf_counter() - started

    return measure


def _stdlib(raw: bytes) -> Callable[[], float]:
    def measure() -> float:
        started = time.perf_counter()
        msg = BytesParser(policy=policy.default).parsebytes(raw)
        body = msg.get_body(preferencelist=("plain", "html"))  # type: ignore[attr-defined]
        if body is not None:
            body.get_content()
        return time.perf_counter() - started

    return measure


def run(*, smoke: bool = False) -> list[Row]:
    small, large, middle = (1_000, 20_000, 10_000) if smoke else (1_000, LIMIT - 1_000, 1_000_000)
    rounds = 1 if smoke else 3
    rows: list[Row] = []
    for shape in SHAPES:
        tiny, big = message(shape, small), message(shape, large)
        per_small, per_large = alternate(rounds, _ours(tiny), _ours(big))
        rows.append(
            Row(
                NAME,
                f"{shape}: per KB at {large / 1e6:.0f} MB vs at 1 KB" if not smoke else f"{shape}: per KB, large",
                median(per_large) / (len(big) / 1000) * 1000,
                median(per_small) / (len(tiny) / 1000) * 1000,
                "ms/KB",
                target=("<=", 1.0),
                baseline_name="1 KB",
            )
        )
    for shape in SHAPES:
        raw = message(shape, middle)
        ours, stdlib = alternate(rounds, _ours(raw), _stdlib(raw))
        rows.append(
            Row(
                NAME,
                f"{shape}: {middle / 1e6:g} MB, whole parse",
                median(ours) * 1000,
                median(stdlib) * 1000,
                "ms",
                baseline_name="stdlib email parser",
            )
        )
    return rows


if __name__ == "__main__":
    print(table(run(smoke="--smoke" in sys.argv)))
