"""Characters a reader cannot see, shared by the renderers of untrusted text (Slack and email).

Zero-width characters, bidi overrides and Unicode tags can hide an instruction from the human who
approves, or make text read differently than it runs (`\u202e` reverses what follows). Renderers
remove them from free text (`strip_hidden`) and show them where exactness matters, such as a
tool's arguments (`reveal_hidden`: `pay[U+200B]ments`).
"""

from __future__ import annotations

import unicodedata

_HANGUL_FILLERS = {0x115F, 0x1160, 0x3164, 0xFFA0}


def is_hidden(ch: str) -> bool:
    """Whether a character is invisible or controls layout: zero-width and bidi controls, Unicode
    tags (U+E0000-U+E007F), variation selectors other than the emoji ones, other format and control
    characters (except newline and tab), lone surrogates, Hangul fillers."""
    if ch in "\n\t":
        return False
    cp = ord(ch)
    return (
        unicodedata.category(ch) in ("Cc", "Cf", "Cs")
        or 0xE0000 <= cp <= 0xE007F
        or 0xE0100 <= cp <= 0xE01EF
        or 0xFE00 <= cp <= 0xFE0D
        or cp in _HANGUL_FILLERS
    )


def strip_hidden(text: str) -> str:
    """`text` without its hidden characters."""
    return "".join(ch for ch in text if not is_hidden(ch))


def reveal_hidden(text: str) -> str:
    """`text` with each hidden character shown as `[U+XXXX]`."""
    return "".join(f"[U+{ord(ch):04X}]" if is_hidden(ch) else ch for ch in text)
