"""The new part of a reply: quoted history, reply headers and signatures cut off.

mail-parser-reply splits a body at the reply headers mail clients write (Gmail/Apple
"On <date>, <name> wrote:", Outlook "-----Original Message-----" and "From: ... Sent: ..." blocks)
and recognises common signatures. Around it we handle what it leaves: `>` quoted lines, the
"-- " signature delimiter (RFC 3676), and a body that starts with a reply header (nothing new).

Its regexes backtrack: a run of blank lines costs it more than quadratic time in the run's length
(`\\s*^` at every position of the run), and a line starting with "On " costs quadratic time in the
line's length. What reaches it is therefore shaped first, so that its cost is linear in the text:
at most `_MAX_CHARS`, trailing spaces dropped, runs of blank lines and of spaces collapsed (a
reader sees no difference), and lines longer than `_MAX_LINE` broken into pieces with a marker that
is removed again afterwards (no reply header or signature line is that long, and the words in a
long line come back whole).
"""

from __future__ import annotations

import re

from mailparser_reply.parser import EmailMessage as _ReplyMessage

# The new part comes first; a reply beyond this is cut before parsing.
_MAX_CHARS = 100_000
# Longest line the reply parser sees; reply headers ("On <date>, <name> <address> wrote:", joined
# from two lines by Gmail) and signature lines are far shorter.
_MAX_LINE = 400
# Ends a piece of a broken line. Private use: `remove_invisible` drops these from every mail.
_JOIN = "\ue000"
_SIGNATURE_DELIMITER = re.compile(r"^-- ?$")
_GMAIL_TWO_LINE_HEADER = re.compile(r"^On .{6,200}$\n^.{0,120}wrote:\s*$", re.MULTILINE)
_HORIZONTAL_RUN = re.compile(r"[^\S\n]{2,}")
_BLANK_RUN = re.compile(r"\n{3,}")


def latest_reply(text: str) -> str:
    """Return only what the sender wrote in this message."""
    text = _shape(text)
    text = _cut_at_signature(text)
    # Gmail folds long "On ... wrote:" lines; join them so the reply parser sees one header.
    text = _GMAIL_TWO_LINE_HEADER.sub(lambda m: m.group(0).replace("\n", " "), text)
    try:
        parsed = _ReplyMessage(text=_break_long_lines(text), languages=["en"], keep_hyphen_lists=True).read()
    except Exception:  # noqa: BLE001 - a third-party regex engine must never fail a delivery
        parsed = None
    if parsed is not None and parsed.replies:
        first = parsed.replies[0]
        body = "" if first.headers else first.body
    else:
        body = text
    return _drop_quoted_lines(_join_long_lines(body)).strip()


def _shape(text: str) -> str:
    """What a reader sees, in a form whose parsing cost is linear (see the module docstring)."""
    text = text[:_MAX_CHARS].replace("\r\n", "\n").replace("\r", "\n").replace(_JOIN, "")
    lines = [_HORIZONTAL_RUN.sub(" ", line.rstrip()) for line in text.split("\n")]
    return _BLANK_RUN.sub("\n\n", "\n".join(lines))


def _break_long_lines(text: str) -> str:
    if all(len(line) <= _MAX_LINE for line in text.split("\n")):
        return text
    out: list[str] = []
    for line in text.split("\n"):
        while len(line) > _MAX_LINE:
            # The parser strips each line: the next piece must not start with a space, or it is lost.
            cut = _MAX_LINE
            while cut > _MAX_LINE // 2 and line[cut].isspace():
                cut -= 1
            out.append(line[:cut] + _JOIN)
            line = line[cut:]
        out.append(line)
    return "\n".join(out)


def _join_long_lines(text: str) -> str:
    return text.replace(_JOIN + "\n", "").replace(_JOIN, "")


def _cut_at_signature(text: str) -> str:
    lines = text.split("\n")
    for index, line in enumerate(lines):
        if _SIGNATURE_DELIMITER.match(line) and index > 0:
            return "\n".join(lines[:index])
    return text


def _drop_quoted_lines(text: str) -> str:
    kept = [line for line in text.split("\n") if not line.lstrip().startswith(">")]
    # Collapse the blank lines left where quotes were.
    return _BLANK_RUN.sub("\n\n", "\n".join(kept))
