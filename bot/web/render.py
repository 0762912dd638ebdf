"""Templates (Jinja2, autoescaped) and the filters that show what people read.

Arguments are shown as the Slack card shows them: `name = <JSON value>` per line, everything hard
to see marked by `channels.marks` (`⟨U+202E⟩`, `⟨3000 spaces⟩`, `p⟨Cyrillic а⟩yments`), each mark
drawn as a `<mark>` so it stands out; a literal `⟨` in a value is itself marked, so every bracket
shown is one of ours. Free text (a reason, a message) is marked the same way, line breaks kept.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup, escape

from bot import views
from channels.base import EditField
from channels.marks import CLOSE, OPEN, mark, mark_value
from storage.models import RequestRow

TEMPLATES = Path(__file__).with_name("templates")
_MARK = re.compile(f"({OPEN}[^{OPEN}{CLOSE}]*{CLOSE})")


def _json(value: Any) -> str:
    """`value` as JSON on one line, as on the Slack card (line separators escaped as JSON allows)."""
    return json.dumps(value, ensure_ascii=False, default=str).replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def highlight(marked: str) -> Markup:
    """Marked text as HTML: the text escaped, each mark in a `<mark class="hard">`."""
    parts: list[str] = []
    for i, piece in enumerate(_MARK.split(marked)):
        if i % 2:
            parts.append(f'<mark class="hard">{escape(piece)}</mark>')
        elif piece:
            parts.append(str(escape(piece)))
    return Markup("".join(parts))


def argument_lines(arguments: Mapping[str, Any]) -> list[Markup]:
    """Each argument as `name = <JSON value>`, marked and escaped."""
    return [highlight(f"{mark(str(name))} = {_json(mark_value(value))}") for name, value in arguments.items()]


def has_marks(arguments: Mapping[str, Any]) -> bool:
    return any(OPEN in f"{mark(str(n))}{_json(mark_value(v))}" for n, v in arguments.items())


def text(value: object) -> Markup:
    """Free text, marked (line breaks and single spaces kept) and escaped."""
    return highlight(mark(str(value or ""), spaces=False))


def age(moment: datetime | None, now: datetime | None = None) -> str:
    if moment is None:
        return ""
    seconds = max(0, int(((now or datetime.now(UTC)) - moment).total_seconds()))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min"
    if seconds < 86400:
        return f"{seconds // 3600} h {seconds % 3600 // 60} min"
    return f"{seconds // 86400} d {seconds % 86400 // 3600} h"


def when(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if moment else ""


def slack_link(channel: object, ts: object, thread_ts: object = None) -> str | None:
    """A link that opens a Slack message (Slack redirects it into the workspace)."""
    if not isinstance(channel, str) or not isinstance(ts, str) or not re.fullmatch(r"[A-Z0-9]{1,30}", channel):
        return None
    if not re.fullmatch(r"\d{1,12}\.\d{1,9}", ts):
        return None
    link = f"https://slack.com/archives/{channel}/p{ts.replace('.', '')}"
    if isinstance(thread_ts, str) and thread_ts != ts and re.fullmatch(r"\d{1,12}\.\d{1,9}", thread_ts):
        link += f"?thread_ts={thread_ts}&cid={channel}"
    return link


def mail_link(message_id: object) -> str | None:
    """An RFC 2392 `mid:` link to an email (mail clients that know the message open it)."""
    if not isinstance(message_id, str) or not message_id.strip("<>"):
        return None
    return "mid:" + quote(message_id.strip().strip("<>"), safe="@.-_+!$")


def where_sent(refs: Mapping[str, Any] | None) -> list[dict[str, str]]:
    """The places a message landed, from its delivery refs: Slack messages and emails."""
    if not refs:
        return []
    found: list[dict[str, str]] = []
    link = slack_link(refs.get("channel"), refs.get("ts"))
    if link:
        found.append({"label": "Slack message", "href": link})
    ids: Iterable[object] = refs.get("message_ids") or ([refs["message_id"]] if refs.get("message_id") else [])
    for message_id in ids:
        href = mail_link(message_id)
        if href:
            found.append({"label": f"email {message_id}", "href": href})
    return found


def edit_fields(row: RequestRow) -> list[EditField]:
    """The fields of an approval's edit form; none once an approval counts (edits are refused then)."""
    return [] if row.approvals else views.edit_fields(row)


PROVEN = {
    "slack": "a click or message Slack signed",
    "email_dmarc": "a reply that passed DMARC",
    "email_dkim": "a reply with a DKIM signature verified here",
    "email_from": "a reply checked by its sender and reply token only",
    "personal_token": "the API with their personal token",
    "service_token": "the API with the service token",
    "web_link": "the web inbox, signed in by a link mailed to them",
    "web_token": "the web inbox, signed in with their personal token",
    "console": "the console",
    "system": "Signoff itself",
}


def proven(identity: Any) -> str:
    """How the person behind a decision or answer was proven, in words (empty for older events)."""
    if identity is None:
        return ""
    method = str(identity.method)
    words = PROVEN.get(method, method)
    if identity.person and identity.person != identity.subject:
        words += f", as {identity.subject}"
    return words


def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(text=text, age=age, when=when, argument_lines=argument_lines, proven=proven)
    env.globals.update(has_marks=has_marks, OPEN=OPEN, CLOSE=CLOSE, edit_fields=edit_fields)
    return env
