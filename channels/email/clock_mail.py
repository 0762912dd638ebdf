"""What the clock says by email: a reminder, or an escalation, is the request's own mail again
(the approval request or the question, with a reply address bound to each recipient) under a first
paragraph that says why it comes again. Pure: from composed messages to composed messages."""

from __future__ import annotations

from collections.abc import Sequence
from email.message import EmailMessage

from channels.base import HumanRequestView
from channels.invisible import strip_hidden

MAX_NAMES = 20


def _names(people: Sequence[str]) -> str:
    shown = [" ".join(strip_hidden(p).split())[:200] for p in people[:MAX_NAMES]]
    more = f" and {len(people) - MAX_NAMES} more" if len(people) > MAX_NAMES else ""
    return ", ".join(shown) + more


def reminder_intro(request: HumanRequestView, awaiting: Sequence[str]) -> str:
    what = "This question" if request.kind == "question" else "This approval request"
    line = f"Reminder: {what} is still waiting for an answer"
    if awaiting:
        line += f" from {_names(awaiting)}"
    if request.kind == "approval" and request.required > 1:
        line += f" ({len(request.approved_by)} of {request.required} approvals so far)"
    return line + "."


def escalation_intro(request: HumanRequestView, note: str = "") -> str:
    """Why it comes to them: the clock's words, or those of whoever escalated it (`note`)."""
    what = "question" if request.kind == "question" else "approval request"
    verb = "answer" if request.kind == "question" else "decide"
    if note:
        return f"{strip_hidden(note).strip()}\n\n(This {what} was escalated to you: you may now {verb} it too.)"
    return f"Escalated to you: nobody answered this {what} in time, so you may now {verb} it too."


def waiting_note(request: HumanRequestView, awaiting: Sequence[str], escalated: bool) -> str:
    """For the thread's people when nobody it names can be mailed (they are on Slack, say)."""
    what = "the question" if request.kind == "question" else f"the approval to run {request.tool or 'the tool'}"
    if escalated:
        return f"Nobody answered {what} in time; {_names(awaiting)} may now answer it too.\n\nRequest {request.id}"
    return f"Still waiting for {_names(awaiting) or 'an answer'} on {what}.\n\nRequest {request.id}"


def with_intro(message: EmailMessage, intro: str) -> EmailMessage:
    """`message` with `intro` as its first paragraph (its headers unchanged)."""
    body = message.get_content()
    message.set_content(f"{intro}\n\n{body}", charset="utf-8")
    return message
