"""Questions with choices: which option an answer picks. Pure.

An answer picks an option when it is the option's text (ignoring case and surrounding space and a
trailing full stop) or its number as offered (`2`, `2.` or `2)` for the second). Anything else is a
free-text answer, taken only where the question allows it (`QuestionAsked.allow_free_text`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

_NUMBER = re.compile(r"(\d{1,3})[.)]?")


def _key(text: str) -> str:
    return " ".join(text.split()).rstrip(".").casefold()


def pick(options: Sequence[str], answer: str) -> str | None:
    """The option `answer` picks, as offered; None when it picks none."""
    text = answer.strip()
    number = _NUMBER.fullmatch(text)
    if number is not None:
        index = int(number.group(1))
        if 1 <= index <= len(options):
            return options[index - 1]
    wanted = _key(text)
    return next((option for option in options if _key(option) == wanted), None)


def numbered(options: Sequence[str]) -> str:
    """`1) yes  2) no` as shown in refusals."""
    return "  ".join(f"{n}) {option}" for n, option in enumerate(options, 1))
