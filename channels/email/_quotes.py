"""The new part of a reply: quoted history, reply headers and signatures cut off.

mail-parser-reply splits a body at the reply headers mail clients write (Gmail/Apple
"On <date>, <name> wrote:", Outlook "-----Original Message-----" and "From: ... Sent: ..." blocks)
and recognises common signatures. Around it we handle what it leaves: `>` quoted lines, the
"-- " signature delimiter (RFC 3676), and a body that starts with a reply header (nothing new).
"""

from __future__ import annotations

import re

from mailparser_reply.parser import EmailMessage as _ReplyMessage

# Reply parsing is regex-heavy; bodies beyond this are cut before it (the new part comes first).
_MAX_CHARS = 100_000
_SIGNATURE_DELIMITER = re.compile(r"^-- ?$")
_GMAIL_TWO_LINE_HEADER = re.compile(r"^On .{6,200}$\n^.{0,120}wrote:\s*$", re.MULTILINE)


def latest_reply(text: str) -> str:
    """Return only what the sender wrote in this message."""
    text = text[:_MAX_CHARS].replace("\r\n", "\n")
    text = _cut_at_signature(text)
    # Gmail folds long "On ... wrote:" lines; join them so the reply parser sees one header.
    text = _GMAIL_TWO_LINE_HEADER.sub(lambda m: m.group(0).replace("\n", " "), text)
    try:
        parsed = _ReplyMessage(text=text, languages=["en"], keep_hyphen_lists=True).read()
    except Exception:  # noqa: BLE001 - a third-party regex engine must never fail a delivery
        parsed = None
    if parsed is not None and parsed.replies:
        first = parsed.replies[0]
        body = "" if first.headers else first.body
    else:
        body = text
    return _drop_quoted_lines(body).strip()


def _cut_at_signature(text: str) -> str:
    lines = text.split("\n")
    for index, line in enumerate(lines):
        if _SIGNATURE_DELIMITER.match(line.rstrip("\r")) and index > 0:
            return "\n".join(lines[:index])
    return text


def _drop_quoted_lines(text: str) -> str:
    kept = [line for line in text.split("\n") if not line.lstrip().startswith(">")]
    # Collapse the blank lines left where quotes were.
    return re.sub(r"\n{3,}", "\n\n", "\n".join(kept))
