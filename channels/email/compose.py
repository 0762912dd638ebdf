"""Outgoing mail: replies, approval requests, questions and decision notices, as `EmailMessage`s.

Every message is a reply in the conversation's thread (In-Reply-To, References, "Re: " subject),
carries a fresh Message-ID in the agent's domain, is plain UTF-8 text, and is marked
`Auto-Submitted: auto-replied` (RFC 3834) with `X-Auto-Response-Suppress: All` so that vacation
responders and other robots do not answer it.

Text from users and the model goes only into the body and into header values that are stripped of
control characters first (no CR/LF, so no header injection) and of encoded-word syntax (`=?...?=`,
which the header registry would decode into anything, CR/LF included); addresses are parsed and
checked. Invisible characters (zero-width, bidi overrides, Unicode tags) are removed from the body,
except in a tool's arguments, where they and anything else hard to see (runs of whitespace,
look-alike letters from another script) are shown as marks (`channels.marks`: `⟨U+202E⟩`,
`⟨3000 spaces⟩`, `p⟨Cyrillic а⟩yments`) so the approver sees what runs. Arguments are never
shortened in mail.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any

from channels.base import HumanRequestView
from channels.invisible import strip_hidden
from channels.marks import CLOSE, OPEN, mark_value

_MAX_REFERENCES = 20
_MSG_ID = re.compile(r"<[^<>\s]+>")
_REPLY_PREFIX = re.compile(r"^\s*((re|aw|sv|antw|vs|ref|rif|res)\s*(\[\d+\])?\s*:\s*)+", re.IGNORECASE)
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u0085\u2028\u2029]+")
_ENCODED_WORD_OPENER = "=?"


@dataclass(frozen=True)
class ThreadRefs:
    """Where a message goes in a conversation: the subject and the message it answers."""

    subject: str = ""
    parent_id: str | None = None  # Message-ID of the message being answered
    references: tuple[str, ...] = field(default_factory=tuple)  # the parent's References

    @classmethod
    def answering(cls, message_id: str | None, references: Sequence[str], subject: str) -> ThreadRefs:
        return cls(subject=subject, parent_id=message_id, references=tuple(references))


def reply_subject(subject: str) -> str:
    """`Re: <subject>` without stacking prefixes (`Re: RE: Aw:` become one `Re:`)."""
    bare = _REPLY_PREFIX.sub("", _subject(subject)).strip()
    return f"Re: {bare}" if bare else "Re:"


MAX_SUBJECT_CHARS = 250


def _subject(subject: str) -> str:
    """A clean subject of at most MAX_SUBJECT_CHARS: a sender's 20,000-character subject would
    otherwise cost seconds of header folding on every message of its thread."""
    cleaned = _clean_header(subject[: MAX_SUBJECT_CHARS * 4])
    return cleaned if len(cleaned) <= MAX_SUBJECT_CHARS else cleaned[: MAX_SUBJECT_CHARS - 1].rstrip() + "…"


def references_for(thread: ThreadRefs) -> list[str]:
    """The References chain for a reply: the parent's references plus the parent, bounded."""
    chain = [ref for ref in thread.references if _MSG_ID.fullmatch(ref)]
    if thread.parent_id and _MSG_ID.fullmatch(thread.parent_id):
        chain.append(thread.parent_id)
    deduped = list(dict.fromkeys(chain))
    if len(deduped) > _MAX_REFERENCES:  # keep the root and the most recent (RFC 5322 3.6.4)
        deduped = deduped[:1] + deduped[-(_MAX_REFERENCES - 1) :]
    return deduped


def compose_reply(
    *,
    agent_address: str,
    to: Sequence[str],
    thread: ThreadRefs,
    text: str,
    cc: Sequence[str] = (),
    reply_to: str | None = None,
    agent_name: str = "Signoff",
    now: datetime | None = None,
    message_id: str | None = None,
) -> EmailMessage:
    """A plain-text message from the agent, threaded under `thread.parent_id`.

    `message_id` (`<...@domain>`) replaces the fresh one: a sender that may retry passes the same
    id each time, so a message sent twice is still one message to the recipients' clients.
    """
    msg = EmailMessage()
    msg["From"] = _address(agent_address, agent_name)
    msg["To"] = [_address(addr) for addr in _unique(to)]
    if cc:
        msg["Cc"] = [_address(addr) for addr in _unique(cc)]
    if reply_to:
        msg["Reply-To"] = _address(reply_to, agent_name)
    msg["Subject"] = reply_subject(thread.subject) if thread.parent_id else _subject(thread.subject)
    msg["Date"] = format_datetime(now or datetime.now(UTC))
    if message_id is not None and not _MSG_ID.fullmatch(message_id):
        raise ValueError(f"not a Message-ID: {message_id!r}")
    msg["Message-ID"] = message_id or make_msgid(domain=_domain(agent_address))
    if thread.parent_id and _MSG_ID.fullmatch(thread.parent_id):
        msg["In-Reply-To"] = thread.parent_id
    refs = references_for(thread)
    if refs:
        msg["References"] = " ".join(refs)
    msg["Auto-Submitted"] = "auto-replied"
    msg["X-Auto-Response-Suppress"] = "All"
    msg.set_content(_body(text), charset="utf-8")
    return msg


def compose_approval_request(
    request: HumanRequestView,
    *,
    agent_address: str,
    to: Sequence[str],
    reply_to: str,
    thread: ThreadRefs,
    agent_name: str = "Signoff",
    now: datetime | None = None,
    message_id: str | None = None,
) -> EmailMessage:
    """Ask `to` to approve or deny one tool call; the answer goes to the tokenised `reply_to`."""
    tool = _clean_header(request.tool or "") or "(unknown tool)"
    lines = [
        f"Approval needed: {tool}",
        "",
        f"{_clean_header(request.requested_by) or 'Someone'} asked, and the agent wants to run {tool} with:",
        "",
        _indent(format_arguments(request.arguments)),
        "",
    ]
    if OPEN in format_arguments(request.arguments):
        lines += [f"The arguments hold characters that are hard to see, shown as {OPEN}…{CLOSE} marks.", ""]
    lines += [
        "Why:",
        _indent(request.reason.strip() or "(no reason given)"),
        "",
        *policy_lines(request),
        "To answer, reply to this email. The first line of your reply decides:",
        "",
        "    approve",
        "    deny <reason>",
        *grant_lines(request),
        "",
        *deny_option_lines(request),
        "A reason for a denial is passed to the agent, which will adapt.",
        *edit_lines(request),
        _who_may_answer(request.allowed),
        f"Request {request.id}",
    ]
    return compose_reply(
        agent_address=agent_address,
        to=to,
        thread=thread,
        text="\n".join(lines),
        reply_to=reply_to,
        agent_name=agent_name,
        now=now,
        message_id=message_id,
    )


def deny_option_lines(request: HumanRequestView) -> list[str]:
    """An approval's named ways to deny, numbered: a reply with the number (or the text) picks one."""
    if not request.deny_options:
        return []
    lines = ["Or deny in one of these ways: reply with its number (a comment may follow it).", ""]
    for n, option in enumerate(request.deny_options, 1):
        note = " (say why after the number)" if option.ask else ""
        lines.append(f"    {n}) {_clean_header(option.label)}{note}")
    return [*lines, ""]


def grant_lines(request: HumanRequestView) -> list[str]:
    """The standing grants this approver may give, as the reply words that give them."""
    words = {
        "thread": "approve for this thread",
        "duration": "approve for 1h",
        "arguments": "approve for these arguments until 2030-01-31",
    }
    offered = [o for o in request.grant_offers if o.scope in words]
    if not offered:
        return []
    lines = ["", "Or approve and allow the same later calls without asking (a standing grant):", ""]
    return lines + [f"    {words[o.scope]:<48} ({o.label})" for o in offered]


def compose_question(
    request: HumanRequestView,
    *,
    agent_address: str,
    to: Sequence[str],
    reply_to: str,
    thread: ThreadRefs,
    agent_name: str = "Signoff",
    now: datetime | None = None,
    message_id: str | None = None,
) -> EmailMessage:
    """Ask `to` a question; whatever they write above the quoted text is the answer."""
    lines = [
        "The agent has a question:",
        "",
        _indent(request.question.strip()),
        "",
    ]
    if request.options:
        lines += ["Options:", *(f"    {n}) {_clean_header(option)}" for n, option in enumerate(request.options, 1)), ""]
        how = "To answer, reply to this email with the number or the text of an option at the top" + (
            ", or write your own answer." if request.allow_free_text else " (other answers are not taken)."
        )
    else:
        how = "To answer, reply to this email; write your answer at the top."
    lines += [
        how,
        _who_may_answer(request.allowed),
        f"Request {request.id}",
    ]
    return compose_reply(
        agent_address=agent_address,
        to=to,
        thread=thread,
        text="\n".join(lines),
        reply_to=reply_to,
        agent_name=agent_name,
        now=now,
        message_id=message_id,
    )


def compose_decision_notice(
    request: HumanRequestView,
    *,
    agent_address: str,
    to: Sequence[str],
    thread: ThreadRefs,
    agent_name: str = "Signoff",
    note: str = "",
    now: datetime | None = None,
    message_id: str | None = None,
) -> EmailMessage:
    """Tell people how a request ended (approved, denied, answered, expired), and by whom.

    `note` adds a first line, e.g. "Your reply came too late:" for a late or second answer.
    """
    what = _clean_header(request.tool or "") if request.kind == "approval" else "the question"
    by = _clean_header(request.decided_by or "") or "nobody"
    outcome = {
        "approved": f"Approved by {by}: {what} will run.",
        "denied": f"Denied by {by}: {what} will not run.",
        "answered": f"Answered by {by}.",
        "expired": f"Expired: nobody answered, so {what} will not run."
        if request.kind == "approval"
        else "Expired: nobody answered.",
    }.get(request.status, f"Request is {request.status}.")
    lines = [note.strip()] if note.strip() else []
    lines.append(outcome)
    if request.granted and request.status == "approved":
        lines.append(" ".join(request.granted.split()))
    if request.comment.strip():
        lines += ["", "Comment:", _indent(request.comment.strip())]
    lines += ["", f"Request {request.id}"]
    return compose_reply(
        agent_address=agent_address,
        to=to,
        thread=thread,
        text="\n".join(lines),
        agent_name=agent_name,
        now=now,
        message_id=message_id,
    )


def format_arguments(arguments: dict[str, Any]) -> str:
    """Arguments as indented JSON, in full: strings are quoted and escaped, so values cannot fake
    lines, and what is hard to see in them is marked (`channels.marks`)."""
    if not arguments:
        return "(no arguments)"
    # Marked before dumping: the marks replace every line separator and control character in a value.
    return json.dumps(mark_value(arguments), indent=2, ensure_ascii=False, sort_keys=True, default=str)


def _who_may_answer(allowed: Iterable[str]) -> str:
    names = [name for name in allowed if name]
    return f"Who may answer: {', '.join(names)}." if names else "Anyone on this thread may answer."


def _indent(text: str, prefix: str = "    ") -> str:
    return "\n".join(prefix + line if line else "" for line in text.splitlines())


def _body(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    # No other control characters in the body either (NUL, escape sequences, ...), nor invisible ones.
    return strip_hidden(text).rstrip() + "\n"


def _clean_header(value: str) -> str:
    """One line, no control or invisible characters, no encoded word: what a header value may safely
    hold. (A literal `=?utf-8?q?=0D=0ABcc:...?=` would be decoded by the header registry when set, and
    its CR/LF written out as is.)"""
    one_line = strip_hidden(_CONTROL.sub(" ", value)).replace(_ENCODED_WORD_OPENER, "= ?")
    return re.sub(r"\s{2,}", " ", one_line).strip()


def _address(addr: str, display_name: str = "") -> Address:
    """A checked `Address`; raises ValueError for anything that is not one plain address."""
    cleaned = addr.strip()
    if not cleaned or _CONTROL.search(cleaned) or any(ch in cleaned for ch in ' ,;<>"()'):
        raise ValueError(f"not a plain email address: {addr!r}")
    address = Address(display_name=_clean_header(display_name), addr_spec=cleaned)
    if not address.username or not address.domain:
        raise ValueError(f"not a plain email address: {addr!r}")
    return address


def _domain(addr: str) -> str:
    return addr.rpartition("@")[2].strip()


def _unique(addresses: Iterable[str]) -> list[str]:
    seen: dict[str, str] = {}
    for addr in addresses:
        seen.setdefault(addr.strip().lower(), addr.strip())
    return list(seen.values())


def edit_lines(request: HumanRequestView) -> list[str]:
    """How to approve with changed arguments, when the request takes edits."""
    if not request.edit_fields or request.approved_by:
        return []
    first = request.edit_fields[0]
    return [
        "",
        "To approve with changed arguments, put one `name: value` line per change right under approve",
        f"(the arguments are {', '.join(_clean_header(f.name) for f in request.edit_fields[:30])}), e.g.:",
        "",
        "    approve",
        f"    {_clean_header(first.name)}: {_clean_header(first.value)[:60] or '...'}",
        "",
        "What runs is exactly what you approved. A comment goes after a blank line.",
        "",
    ]


def policy_lines(request: HumanRequestView) -> list[str]:
    """The policy an approver should know: the rule that matched, and progress toward N of M."""
    lines = []
    if request.rule.strip():
        lines.append(f"Rule: {_clean_header(request.rule)}")
    if request.required > 1:
        done = ", ".join(_clean_header(a) for a in request.approved_by)
        lines.append(
            f"Needs {request.required} approvals from different people; {len(request.approved_by)} of "
            f"{request.required} so far" + (f" ({done})." if done else ".")
        )
    return [*lines, ""] if lines else []
