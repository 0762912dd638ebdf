"""Stripping a reply to its new part costs time linear in the body, whatever the body holds.

mail-parser-reply's regexes backtrack: before the input was shaped, 10,000 blank lines took 6 s,
20,000 took 38 s, and a line of "On " and a long word took quadratic time (issue 22.1). Each
generated body here must be parsed within a bound that grows linearly with its size, and the new
part of a reply written above a reply header must survive the shaping whole.
"""

from __future__ import annotations

import time
from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from channels.email._quotes import latest_reply
from channels.email.parse import parse_email

# Measured on a quiet machine: at worst about 5 microseconds a character (long lines that start
# with "On "), 0.3 for prose. The bound leaves room for a machine shared with other work.
BASE_SECONDS = 0.2
SECONDS_PER_CHAR = 50e-6
SIZES = st.integers(min_value=1_000, max_value=20_000)


def _blank_runs(n: int) -> str:
    return "hi\n" + "\n" * n + "bye"


def _whitespace_lines(n: int) -> str:
    return "hi\n" + " \t \n" * (n // 4) + "bye"


def _on_long_word(n: int) -> str:
    return "On " + "a" * n


def _on_lines(n: int) -> str:
    return ("On " + "x" * 997 + "\n") * max(1, n // 1000)


def _long_line(n: int) -> str:
    return "word " * (n // 5)


def _deep_quotes(n: int) -> str:
    return (">" * 200 + " On Mon wrote:\n") * max(1, n // 215)


def _spaced_quotes(n: int) -> str:
    return "> " * (n // 2)


def _signature_bait(n: int) -> str:
    return ("Sent from my " + "phone " * 60 + "\n-- \n- a\n__\n") * max(1, n // 400)


def _disclaimers(n: int) -> str:
    return "Disclaimer: mail mail. " * (n // 23)


def _outlook_blocks(n: int) -> str:
    return ("From: a\nSent: b\nTo: c\n" + "_" * 40 + "\n") * max(1, n // 64)


SHAPES = [
    _blank_runs,
    _whitespace_lines,
    _on_long_word,
    _on_lines,
    _long_line,
    _deep_quotes,
    _spaced_quotes,
    _signature_bait,
    _disclaimers,
    _outlook_blocks,
]
bodies = st.one_of(
    st.builds(lambda shape, n: shape(n), st.sampled_from(SHAPES), SIZES),
    # Mixed: pieces of several shapes, one after another.
    st.lists(st.tuples(st.sampled_from(SHAPES), st.integers(200, 4_000)), min_size=2, max_size=6).map(
        lambda parts: "\n".join(shape(n) for shape, n in parts)
    ),
)


def _bound(chars: int) -> float:
    return BASE_SECONDS + SECONDS_PER_CHAR * chars


@settings(max_examples=80, deadline=timedelta(seconds=10), suppress_health_check=[HealthCheck.too_slow])
@given(bodies)
def test_reply_stripping_time_grows_linearly_with_the_body(body: str) -> None:
    started = time.perf_counter()
    latest_reply(body)
    elapsed = time.perf_counter() - started
    assert elapsed <= _bound(len(body)), f"{elapsed:.2f} s for {len(body)} characters"


@settings(max_examples=10, deadline=timedelta(seconds=30), suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(SHAPES), st.integers(min_value=50_000, max_value=200_000))
def test_a_whole_message_parses_in_linear_time(shape: object, n: int) -> None:
    assert callable(shape)
    raw = (
        b"From: eve@evil.example\r\nTo: agent@example.test\r\nSubject: hi\r\nMessage-ID: <p@evil.example>\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n\r\n" + shape(n).replace("\n", "\r\n").encode()
    )
    started = time.perf_counter()
    parse_email(raw)
    elapsed = time.perf_counter() - started
    assert elapsed <= _bound(len(raw)), f"{elapsed:.2f} s for {len(raw)} bytes"


@settings(max_examples=60, deadline=timedelta(seconds=2))  # a slow input is a finding too
@given(
    st.lists(
        st.text(alphabet=st.characters(codec="utf-8", categories=["L", "N"]), min_size=1, max_size=900),
        min_size=1,
        max_size=6,
    )
)
def test_the_new_part_above_a_reply_header_survives_whole(words: list[str]) -> None:
    new_part = " ".join(words)  # one line, often longer than what the reply parser is given at once
    body = f"{new_part}\n\nOn Mon, 1 Jan 2024 at 10:00, Ann <ann@example.com> wrote:\n> old text\n> more\n"
    assert latest_reply(body) == new_part


def test_runs_of_blank_lines_and_spaces_read_the_same() -> None:
    body = (
        "first line\n" + "\n" * 5_000 + "second   \t  line  \n\n\n" + "On Tue, 2 Jan 2024, B <b@x.example> wrote:\n> q"
    )
    assert latest_reply(body) == "first line\n\nsecond line"
