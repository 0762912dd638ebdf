"""A human's emailed answer, read from the new part of a reply (`InboundEmail.reply_text`).

Decisions are strict on purpose: the first non-empty line must start with one of the words
`approve`, `approved`, `deny`, `denied`, `reject`, `rejected` (any case, optionally followed by
punctuation). Everything after the word, and any following lines, is the comment (for a denial:
the reason the agent reads). "yes", "ok", "lgtm" and the like are not decisions: a misread
approval runs a risky tool.

Under `approve`, lines of the form `name: value` (up to the first line that is not one) change
those arguments before approving (`read_edits`); a comment follows after them.

An approval with named ways to deny (HumanLayer's `reject_options`) also takes one's number, or its
text alone, on the first line (`read_deny_option`): always a denial, never an approval.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Literal

from channels.base import GrantAsk

DecisionWord = Literal["approve", "deny"]

_WORDS: dict[str, DecisionWord] = {
    "approve": "approve",
    "approved": "approve",
    "deny": "deny",
    "denied": "deny",
    "reject": "deny",
    "rejected": "deny",
}
# Optional markdown emphasis or quotes around the word, then a word boundary.
_DECISION = re.compile(
    r"^[\s*_\"'`]*(?P<word>[a-z]+)[*_\"'`]*(?=$|[\s.,:;!\-–—])[\s.,:;!\-–—]*(?P<rest>.*)$",
    re.IGNORECASE | re.DOTALL,
)


def read_decision(reply_text: str) -> tuple[DecisionWord, str] | None:
    """`("approve"|"deny", comment)` from the first non-empty line, or None if it is not one."""
    lines = reply_text.replace("\r\n", "\n").split("\n")
    index = next((i for i, line in enumerate(lines) if line.strip()), None)
    if index is None:
        return None
    match = _DECISION.match(lines[index].strip())
    if not match:
        return None
    decision = _WORDS.get(match.group("word").lower())
    if decision is None:
        return None
    rest = [match.group("rest").strip(), *lines[index + 1 :]]
    comment = "\n".join(rest).strip()
    return decision, re.sub(r"\n{3,}", "\n\n", comment)


_UNITS = {
    "m": "minutes",
    "min": "minutes",
    "minute": "minutes",
    "minutes": "minutes",
    "h": "hours",
    "hour": "hours",
    "hours": "hours",
    "d": "days",
    "day": "days",
    "days": "days",
}
_SPAN = r"(?P<amount>\d{1,4})\s*(?P<unit>minutes?|min|m|hours?|h|days?|d)"
_GRANT = re.compile(
    r"^for\s+(?:(?P<thread>this\s+thread)|(?P<args>these\s+(?:exact\s+)?arguments)|(?:the\s+next\s+)?" + _SPAN + r")"
    r"(?:\s+(?:until\s+(?P<until>\d{4}-\d{2}-\d{2}(?:[t ]\d{2}:\d{2}(?::\d{2})?)?(?:z|[+-]\d{2}:?\d{2})?)"
    r"|for\s+" + _SPAN.replace("amount", "amount2").replace("unit", "unit2") + r"))?"
    r"(?=$|[\s.,;!])[\s.,;!]*(?P<rest>.*)$",
    re.IGNORECASE | re.DOTALL,
)


def read_grant(comment: str) -> tuple[GrantAsk | None, str]:
    """A standing grant asked for after `approve`, and the comment left: `approve for this thread`,
    `approve for 1h` (any thread, for an hour), `approve for these arguments until 2027-01-31`
    (until a date or a time, UTC unless it says), each optionally `... for 8h` / `... until <date>`."""
    match = _GRANT.match(comment.strip())
    if match is None:
        return None, comment
    within = _within(match.group("amount"), match.group("unit")) or _within(
        match.group("amount2"), match.group("unit2")
    )
    until = _until(match.group("until"))
    if match.group("thread"):
        scope = "thread"
    elif match.group("args"):
        scope = "arguments"
    else:
        scope = "duration"
    return GrantAsk(scope, until=until, within=within), match.group("rest").strip()


def _within(amount: str | None, unit: str | None) -> timedelta | None:
    if amount is None or unit is None:
        return None
    return timedelta(**{_UNITS[unit.lower()]: int(amount)})


def _until(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        when = datetime.fromisoformat(text.upper().replace(" ", "T"))
    except ValueError:  # 2027-13-45: a date that is none; the grant is refused as ending in the past
        return datetime.min.replace(tzinfo=UTC)
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def read_answer(reply_text: str) -> str:
    """The free-text answer to a question: the whole new part, trimmed."""
    text = reply_text.replace("\r\n", "\n").strip()
    return re.sub(r"\n{3,}", "\n\n", text)


_DENY_OPTION = re.compile(r"^[\s*_]*(?P<number>\d{1,2})[*_]*[.)]?(?=$|\s)\s*(?P<rest>.*)$", re.DOTALL)


def read_deny_option(reply_text: str, labels: Sequence[str]) -> tuple[int, str] | None:
    """One of an approval's named ways to deny, picked by a reply: its number (then, on the same
    line or after it, a comment) or its label alone on the first line. `(index from 0, comment)`."""
    text = reply_text.replace("\r\n", "\n").strip()
    first, _, after = text.partition("\n")
    match = _DENY_OPTION.match(first.strip())
    if match is not None and 1 <= int(match.group("number")) <= len(labels):
        comment = "\n".join([match.group("rest").strip(), after]).strip()
        return int(match.group("number")) - 1, re.sub(r"\n{3,}", "\n\n", comment)
    wanted = " ".join(first.split()).rstrip(".").casefold()
    for index, label in enumerate(labels):
        if wanted and " ".join(label.split()).rstrip(".").casefold() == wanted:
            return index, after.strip()
    return None


_EDIT_LINE = re.compile(r"^\s*(?P<name>[A-Za-z_][A-Za-z0-9_.\-]{0,199})\s*:\s?(?P<value>.*?)\s*$")
MAX_EDIT_LINES = 100


def read_edits(comment: str) -> tuple[dict[str, str], str]:
    """The `name: value` lines at the top of an approval's comment, and the comment after them."""
    lines = comment.split("\n")
    edits: dict[str, str] = {}
    taken = 0
    for line in lines[:MAX_EDIT_LINES]:
        match = _EDIT_LINE.match(line)
        if match is None:
            break
        edits[match.group("name")] = match.group("value")
        taken += 1
    return edits, "\n".join(lines[taken:]).strip()
