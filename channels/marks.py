"""Text an approver could miss or misread, shown as visible marks: `⟨3000 spaces⟩`, `⟨U+202E⟩`,
`p⟨Cyrillic а⟩yments`, `⟨U+212A K⟩`.

A value that reads `1.4.3` on a card may hold 3,000 spaces and a shell command after them, a
right-to-left override, or a Cyrillic `а` in `pаyments`. Every surface that shows what will run
(the Slack card and its full view, the approval email, `signoff threads show`) passes the values
through `mark` (or `mark_value` for a JSON-like structure), so what is shown is what runs:

    whitespace      a run of anything but one ASCII space: `⟨3000 spaces⟩`, `⟨U+00A0⟩`, `⟨2 tabs⟩`
    hidden          zero-width, bidi, control and tag characters (`channels.invisible`): `⟨U+202E⟩`
    compatibility   a character NFKC folds into another (Kelvin sign, fullwidth, ligatures): `⟨U+212A K⟩`
    mixed scripts   within a word, the letters of its other scripts: `p⟨Cyrillic а⟩yments`
    look-alike word a whole word in another script made only of letters that look Latin: `⟨Cyrillic рау⟩`
    the brackets    a literal `⟨` or `⟩` is itself marked, so every bracket shown is one of ours

`mark` never drops anything: each mark names exactly what it stands for, and `unmark` reads the
marked text back into the original (the tests hold every surface to that).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from typing import Any

from confusable_homoglyphs import categories, confusables

from channels.invisible import is_hidden

OPEN, CLOSE = "⟨", "⟩"
_BRACKETS = {OPEN, CLOSE}
_NEUTRAL_SCRIPTS = {"COMMON", "INHERITED", "UNKNOWN"}
# Scripts that are written together in one word (Japanese mixes Han and kana): one group here.
_SCRIPT_GROUPS = {"HAN": "CJK", "HIRAGANA": "CJK", "KATAKANA": "CJK", "HANGUL": "CJK", "BOPOMOFO": "CJK"}
_WHITESPACE_NAMES = {" ": ("space", "spaces"), "\t": ("tab", "tabs"), "\n": ("newline", "newlines")}
# Whitespace runs, words, and single characters otherwise: the tokens `mark` looks at.
_TOKEN = re.compile(r"(?P<space>\s+)|(?P<word>[^\W_]+)|(?P<other>(?P<other_ch>.)(?P=other_ch)*)", re.DOTALL)


def _code(ch: str) -> str:
    return f"U+{ord(ch):04X}"


def _describe_whitespace(run: str) -> str:
    parts: list[str] = []
    for match in re.finditer(r"(.)\1*", run, re.DOTALL):
        ch, count = match.group(1), len(match.group(0))
        one, many = _WHITESPACE_NAMES.get(ch, (_code(ch), f"× {_code(ch)}"))
        parts.append(one if count == 1 else f"{count} {many}")
    return ", ".join(parts)


@functools.lru_cache(maxsize=4096)
def _script(ch: str) -> str:
    try:
        return str(categories.alias(ch))
    except Exception:  # a character the library has no data for
        return "UNKNOWN"


def _label(script: str) -> str:
    return script if script == "CJK" else script.title()


def _looks_latin(word: str) -> bool:
    """Every letter of `word` has an ASCII look-alike (Cyrillic `рау` reads as `pay`)."""
    found = confusables.is_confusable(word, preferred_aliases=["latin"], greedy=True) or []
    ascii_alike = {
        item["character"] for item in found if any(g["c"].isascii() and g["c"].isalnum() for g in item["homoglyphs"])
    }
    return all(ch in ascii_alike for ch in word if ch.isalpha())


def _mark_word(word: str) -> str:
    # A hidden letter (a Hangul filler) has no script here: it is marked as hidden, never shown inside
    # another mark.
    scripts = [
        _SCRIPT_GROUPS.get(s, s)
        for s in (_script(ch) if ch.isalpha() and not is_hidden(ch) else "COMMON" for ch in word)
    ]
    named = [s for s in scripts if s not in _NEUTRAL_SCRIPTS]
    out: list[str] = []
    if len(set(named)) > 1:
        counts = {s: named.count(s) for s in set(named)}
        top = max(counts.values())
        leaders = sorted(s for s, n in counts.items() if n == top)
        main = "LATIN" if "LATIN" in leaders else leaders[0]
        i = 0
        while i < len(word):
            if scripts[i] in _NEUTRAL_SCRIPTS or scripts[i] == main:
                out.append(_mark_char(word[i]))
                i += 1
                continue
            j = i
            while j < len(word) and scripts[j] == scripts[i]:
                j += 1
            out.append(f"{OPEN}{_label(scripts[i])} {word[i:j]}{CLOSE}")
            i = j
        return "".join(out)
    if named and named[0] != "LATIN" and not any(is_hidden(ch) for ch in word) and _looks_latin(word):
        return f"{OPEN}{_label(named[0])} {word}{CLOSE}"
    return "".join(_mark_char(ch) for ch in word)


def _mark_char(ch: str) -> str:
    if is_hidden(ch) or ch in _BRACKETS:
        return f"{OPEN}{_code(ch)}{CLOSE}"
    folded = unicodedata.normalize("NFKC", ch)
    if folded != ch:
        return f"{OPEN}{_code(ch)} {''.join(c for c in folded if not is_hidden(c))}{CLOSE}"
    return ch


def mark(text: str, *, spaces: bool = True) -> str:
    """`text` with what a reader could miss or misread shown as marks (see the module doc).

    `spaces=False` leaves runs of ASCII spaces, tabs and newlines as they are (for free text laid
    out in lines); other whitespace is marked either way.
    """
    out: list[str] = []
    for match in _TOKEN.finditer(text):
        kind, token = match.lastgroup, match.group(0)
        if kind == "space":
            if token == " " or (not spaces and not token.strip(" \t\n")):
                out.append(token)
            else:
                out.append(f"{OPEN}{_describe_whitespace(token)}{CLOSE}")
        elif kind == "word":
            out.append(_mark_word(token))
        elif len(token) > 1 and (is_hidden(token[0]) or token[0] in _BRACKETS):
            out.append(f"{OPEN}{len(token)} × {_code(token[0])}{CLOSE}")
        else:
            out.append("".join(_mark_char(ch) for ch in token))
    return "".join(out)


def mark_value(value: Any) -> Any:
    """A JSON-like value with every string in it (keys too) passed through `mark`."""
    if isinstance(value, str):
        return mark(value)
    if isinstance(value, dict):
        return {mark(str(k)): mark_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mark_value(v) for v in value]
    return value


def has_marks(text: str) -> bool:
    """Whether `mark` would change `text`."""
    return mark(text) != text


_MARK = re.compile(f"{OPEN}([^{OPEN}{CLOSE}]*){CLOSE}")
_NAMED = {name: ch for ch, names in _WHITESPACE_NAMES.items() for name in names}
_CODE_PART = re.compile(r"(?:(\d+) × )?U\+([0-9A-F]{4,6})(?: .*)?", re.DOTALL)
_COUNTED = re.compile(r"(\d+) (spaces|tabs|newlines)")


def _unmark_one(inside: str) -> str:
    if inside in _NAMED:
        return _NAMED[inside]
    code = _CODE_PART.fullmatch(inside)
    if code:
        return chr(int(code.group(2), 16)) * int(code.group(1) or 1)
    counted = _COUNTED.fullmatch(inside)
    if counted:
        return _NAMED[counted.group(2)] * int(counted.group(1))
    if ", " in inside:
        return "".join(_unmark_one(part) for part in inside.split(", "))
    return inside.partition(" ")[2]  # "Cyrillic а": the letters themselves


def unmark(text: str) -> str:
    """The text `mark` was given: each mark read back as what it stands for."""
    return _MARK.sub(lambda m: _unmark_one(m.group(1)), text)


def unmark_value(value: Any) -> Any:
    """The inverse of `mark_value`."""
    if isinstance(value, str):
        return unmark(value)
    if isinstance(value, dict):
        return {unmark(str(k)): unmark_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unmark_value(v) for v in value]
    return value
