"""Characters a reader cannot see: the one definition every way in and out uses.

Zero-width characters, bidi controls, Unicode tags and variation selectors can hide an instruction
from the human who approves, or make text read differently than it runs (`\u202e` reverses what
follows). What comes in (email bodies and headers, Slack messages, API and CLI text) has them
removed (`clean_inbound`, through `strip_hidden`) before it becomes an event, so the model reads
what a human can read; renderers remove them from free text (`strip_hidden`) and show them where
exactness matters, such as a tool's arguments (`reveal_hidden`: `pay[U+200B]ments`).

Hidden: control characters other than newline and tab (Cc), format characters (Cf: zero-width
space and joiners, bidi marks, embeddings and isolates, soft hyphen, word joiner, BOM, tags),
surrogates (Cs), private-use characters (Co), and every Unicode default-ignorable code point
(Hangul fillers U+115F, U+1160, U+3164, U+FFA0; variation selectors U+FE00-U+FE0F and
U+E0100-U+E01EF; tags U+E0000-U+E007F; the combining grapheme joiner...).

Emoji keep what draws them: a variation selector (U+FE0E, U+FE0F) right after an emoji (`❤️`),
U+FE0F in a keycap (`1️⃣`), and a zero-width joiner between two emoji (`👩‍💻`, `🏳️‍🌈`). Each carries
at most one bit where a glyph already stands, so nothing can be spelt with them. Tag characters are
always hidden, also in the subdivision flags (`🏴` + tags): those show as a plain black flag.
"""

from __future__ import annotations

from collections.abc import Iterator

import regex

_EMOJI_PARTS = r"""
    (?<=[\p{Emoji}--[0-9\#\*]])[\uFE0E\uFE0F]                              # ❤️: presentation selector
  | (?<=[0-9\#\*])\uFE0F(?=\u20E3)                                          # 1️⃣: keycap
  | (?<=\p{Extended_Pictographic}|\p{Emoji_Modifier}|[\p{Emoji}--[0-9\#\*]]\uFE0F)
    \u200D(?=\p{Extended_Pictographic})                                     # 👩‍💻: joiner
"""
_HIDDEN_SET = r"[[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Default_Ignorable_Code_Point}]--[\n\t]]"
_HIDDEN_CHAR = regex.compile(_HIDDEN_SET, regex.V1)
_HIDDEN = regex.compile(rf"(?!{_EMOJI_PARTS}){_HIDDEN_SET}", regex.V1 | regex.VERBOSE)


def is_hidden(ch: str) -> bool:
    """Whether a character is of a hidden kind, wherever it stands (a joiner or a variation
    selector too, though an emoji may keep one: see `hidden_spans`)."""
    return _HIDDEN_CHAR.fullmatch(ch) is not None


def hidden_spans(text: str) -> Iterator[tuple[int, int]]:
    """Where `text` holds hidden characters, as `(start, end)` spans of one character each."""
    for found in _HIDDEN.finditer(text):
        yield found.span()


def has_hidden(text: str) -> bool:
    return _HIDDEN.search(text) is not None


def marked(text: str) -> Iterator[tuple[str, bool]]:
    """Each character of `text` with whether it is hidden where it stands."""
    hidden = {start for start, _ in hidden_spans(text)}
    for i, ch in enumerate(text):
        yield ch, i in hidden


def strip_hidden(text: str) -> str:
    """`text` without its hidden characters."""
    return str(_HIDDEN.sub("", text))


def reveal_hidden(text: str) -> str:
    """`text` with each hidden character shown as `[U+XXXX]`."""
    return str(_HIDDEN.sub(lambda m: f"[U+{ord(m.group()):04X}]", text))


def clean_inbound(text: str) -> str:
    """What a human sent, as it becomes an event: line ends as `\\n`, hidden characters removed."""
    return strip_hidden(text.replace("\r\n", "\n").replace("\r", "\n"))
