"""A human's emailed answer, read from the new part of a reply (`InboundEmail.reply_text`).

Decisions are strict on purpose: the first non-empty line must start with one of the words
`approve`, `approved`, `deny`, `denied`, `reject`, `rejected` (any case, optionally followed by
punctuation). Everything after the word, and any following lines, is the comment (for a denial:
the reason the agent reads). "yes", "ok", "lgtm" and the like are not decisions: a misread
approval runs a risky tool.

Under `approve`, lines of the form `name: value` (up to the first line that is not one) change
those arguments before approving (`read_edits`); a comment follows after them.
"""

from __future__ import annotations

import re
from typing import Literal

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


def read_answer(reply_text: str) -> str:
    """The free-text answer to a question: the whole new part, trimmed."""
    text = reply_text.replace("\r\n", "\n").strip()
    return re.sub(r"\n{3,}", "\n\n", text)


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
