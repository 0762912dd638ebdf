"""HTML bodies to plain text, without the parts a reader cannot see.

Hidden markup (`display:none`, `visibility:hidden`, zero font size, zero width or height, the
`hidden` attribute, `<head>`, `<style>`, `<script>`, `<template>`) is where preheaders, tracking
text and injected instructions hide; it is removed before html2text renders the rest.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

import html2text

_VOID = frozenset("area base br col embed hr img input link meta param source track wbr".split())
_ALWAYS_HIDDEN = frozenset({"head", "style", "script", "template", "title", "noscript", "object"})
_ZERO = r"0*\.?0+(?:px|pt|em|rem|%|cm|mm|in|pc|ex|ch|vw|vh)?"
_HIDDEN_STYLE = re.compile(
    r"(?:^|;|\s)\s*(?:"
    r"display\s*:\s*none"
    r"|visibility\s*:\s*(?:hidden|collapse)"
    r"|opacity\s*:\s*0*\.?0+(?:%)?\s*(?:!important\s*)?(?:;|$)"
    rf"|font-size\s*:\s*{_ZERO}\s*(?:!important\s*)?(?:;|$)"
    rf"|(?:max-)?(?:width|height)\s*:\s*{_ZERO}\s*(?:!important\s*)?(?:;|$)"
    r")",
    re.IGNORECASE,
)


def _is_hidden(tag: str, attrs: list[tuple[str, str | None]]) -> bool:
    if tag in _ALWAYS_HIDDEN:
        return True
    for name, value in attrs:
        name = name.lower()
        if name == "hidden":
            return True
        if name == "style" and value and _HIDDEN_STYLE.search(value.replace("\n", " ")):
            return True
        if name in ("width", "height") and value is not None and value.strip() in ("0", "0px"):
            return True
    return False


class _VisibleHTML(HTMLParser):
    """Re-serialises HTML, skipping every element (and its subtree) that is hidden."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.out: list[str] = []
        self._stack: list[tuple[str, bool, bool]] = []  # (tag, hidden, emitted)
        self._hidden_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        hidden = _is_hidden(tag, attrs)
        emit = not hidden and not self._hidden_depth
        if tag in _VOID:
            if emit:
                self.out.append(self.get_starttag_text() or "")
            return
        self._stack.append((tag, hidden, emit))
        if hidden:
            self._hidden_depth += 1
        if emit:
            self.out.append(self.get_starttag_text() or "")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if not self._hidden_depth and not _is_hidden(tag, attrs):
            self.out.append(self.get_starttag_text() or "")

    def handle_endtag(self, tag: str) -> None:
        if not any(entry[0] == tag for entry in self._stack):
            if not self._hidden_depth:
                self.out.append(f"</{tag}>")
            return
        while self._stack:
            open_tag, hidden, emitted = self._stack.pop()
            if hidden:
                self._hidden_depth -= 1
            if open_tag == tag:
                if emitted:
                    self.out.append(f"</{tag}>")
                break

    def handle_data(self, data: str) -> None:
        if not self._hidden_depth:
            self.out.append(data.replace("<", "&lt;").replace(">", "&gt;"))

    def handle_entityref(self, name: str) -> None:
        if not self._hidden_depth:
            self.out.append(f"&{name};")

    def handle_charref(self, name: str) -> None:
        if not self._hidden_depth:
            self.out.append(f"&#{name};")


def visible_html(html: str) -> str:
    """The same HTML with hidden elements removed (comments and declarations dropped too)."""
    parser = _VisibleHTML()
    parser.feed(html)
    parser.close()
    return "".join(parser.out)


def html_to_text(html: str) -> str:
    """Render the visible part of an HTML body as readable plain text (Markdown-ish)."""
    converter = html2text.HTML2Text()
    converter.body_width = 0
    converter.ignore_images = True
    converter.ignore_emphasis = True
    converter.unicode_snob = True
    converter.single_line_break = False
    text = converter.handle(visible_html(html))
    text = "\n".join(line.rstrip() for line in text.splitlines())
    return re.sub(r"\n{3,}", "\n\n", text).strip()
