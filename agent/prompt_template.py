"""Prompt templates: three placeholders, and braces that are plain text.

The rule, checked when the agent is defined (so `signoff serve` and `signoff doctor` refuse a bad
prompt, naming the file, the line and the placeholder) and applied at every step:

- `{agent_name}`, `{description}` and `{tools}` are replaced by their values.
- `{{name}}` is the literal text `{name}` (to mention a placeholder without filling it in).
- Any other `{name}` (a word in single braces, such as the typo `{agent}`) is refused.
- Every other brace is text: a JSON example (`{"service": "payments"}`) reaches the model as written.

A prompt written for Python's `str.format`, whose only fields are the three placeholders, renders
exactly as `str.format` renders it: there `{{` and `}}` are always a literal `{` and `}`.
Values are inserted as they are, never read as templates themselves.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping

from agent.errors import AgentDefinitionError

PLACEHOLDERS = ("agent_name", "description", "tools")

# `{{name}}` (an escape), or `{name}` optionally followed by a str.format conversion or spec.
_FIELD = re.compile(r"\{\{([A-Za-z_]\w*)\}\}|\{([A-Za-z_]\w*)([!:.\[][^{}\n]*)?\}")
_KNOWN = ", ".join(f"{{{name}}}" for name in PLACEHOLDERS)


class PromptTemplate:
    """A prompt's text, checked once; `source` names it in errors (a file path, or "inline text")."""

    def __init__(self, text: str, source: str) -> None:
        self.text = text
        self.source = source
        self._format_style = _is_format_template(text)
        if not self._format_style:
            self._check()

    def render(self, values: Mapping[str, str]) -> str:
        missing = [name for name in PLACEHOLDERS if name not in values]
        if missing:
            raise ValueError(f"no value for {', '.join(missing)}")
        if self._format_style:
            return self.text.format(**{name: values[name] for name in PLACEHOLDERS})

        def fill(match: re.Match[str]) -> str:
            escaped, name, spec = match.groups()
            if escaped is not None:
                return "{" + escaped + "}"
            if spec is None and name in PLACEHOLDERS:
                return values[name]
            return match.group(0)  # checked at load: only text that is not a placeholder is left

        return _FIELD.sub(fill, self.text)

    def _check(self) -> None:
        problems = list(self.problems())
        if problems:
            raise AgentDefinitionError(*problems)

    def problems(self) -> list[str]:
        """Every bad placeholder, each naming the line."""
        found: list[str] = []
        for match in _FIELD.finditer(self.text):
            escaped, name, spec = match.groups()
            if escaped is not None:
                continue
            where = f"prompt {self.source}, line {self.text.count(chr(10), 0, match.start()) + 1}"
            if name in PLACEHOLDERS and spec is not None:
                found.append(
                    f"{where}: {match.group(0)} is not supported: placeholders take no format "
                    f"spec or conversion; write {{{name}}}"
                )
            if name not in PLACEHOLDERS and spec is None:
                found.append(
                    f"{where}: unknown placeholder {{{name}}}; the placeholders are {_KNOWN}; "
                    f"for the literal text {{{name}}} write {{{{{name}}}}}"
                )
        return found


def _is_format_template(text: str) -> bool:
    """True when `str.format` accepts the text and its only fields are bare known placeholders."""
    try:
        fields = [(name, spec, conv) for _, name, spec, conv in string.Formatter().parse(text) if name is not None]
    except ValueError:  # a lone brace: not written for str.format
        return False
    return all(name in PLACEHOLDERS and not spec and conv is None for name, spec, conv in fields)
