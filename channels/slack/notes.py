"""Short texts around a request: ephemeral answers to a click, and the notes left in the thread
where a request was asked when its card went to another channel. Pure, like `blocks`; every piece
of untrusted text goes through `escape` and every person through `who`.
"""

from __future__ import annotations

from typing import Any

from channels.base import HumanRequestView
from channels.slack.blocks import _OUTCOMES, escape, link, who

_VERBS = {"approved": "approved", "denied": "denied", "answered": "answered", "expired": "expired"}


def _subject(request: HumanRequestView) -> str:
    if request.kind == "question":
        return "this question"
    return f"`{escape(request.tool or 'this request', 100).replace('`', 'ˋ')}`"


def not_allowed(request: HumanRequestView) -> str:
    names = ", ".join(who(a) for a in request.allowed[:10]) + (" and others" if len(request.allowed) > 10 else "")
    return f":no_entry_sign: You are not allowed to decide {_subject(request)}. It is still waiting for {names}."


def not_an_answerer(request: HumanRequestView) -> str:
    """To someone whose thread reply could not answer the pending question."""
    names = ", ".join(who(a) for a in request.allowed[:10]) + (" and others" if len(request.allowed) > 10 else "")
    return (
        ":no_entry_sign: Your reply is in the thread, but it does not answer the agent's question: "
        f"only {names} may answer it."
    )


def already_decided(request: HumanRequestView) -> str:
    verb = _VERBS.get(request.status, escape(request.status, 40))
    by = f" by {who(request.decided_by)}" if request.decided_by else ""
    return f":information_source: {_subject(request).capitalize()} was already {verb}{by}."


def unknown_request(request_id: str) -> str:
    return f":grey_question: This request (`{escape(request_id, 120)}`) is unknown or has expired; nothing was done."


def review_first(request: HumanRequestView) -> str:
    return (
        f":mag: The card cannot show all of the arguments of {_subject(request)}, so it cannot be approved "
        "from there: use *Review full arguments*, which shows them all and approves."
    )


def not_a_question() -> str:
    return ":grey_question: This request is not a question; nothing was done."


def not_editable(request: HumanRequestView) -> str:
    return (
        f":lock: The arguments of {_subject(request)} cannot be edited here (it takes no edits, an approval "
        "already counts for them, or they are too long for a form): approve or deny them as they are."
    )


def not_an_approval() -> str:
    return ":grey_question: This message does not take an approval; nothing was done."


def routed_note(request: HumanRequestView, card_link: str | None, channel: str) -> dict[str, Any]:
    """Left in the originating thread when the card was posted elsewhere."""
    where = link(card_link, "the approval request") if card_link else _place(channel)
    text = f":hourglass_flowing_sand: Waiting for approval to run {_subject(request)}: see {where}."
    return {"text": text}


def outcome_note(request: HumanRequestView, by: str, comment: str) -> dict[str, Any]:
    """The outcome, in the originating thread, when the card itself lives elsewhere."""
    emoji, label = _OUTCOMES.get(request.status, (":information_source:", escape(request.status.capitalize(), 40)))
    text = f"{emoji} {label}" + (f" by {who(by)}" if by else "") + f": {_subject(request)}"
    if comment.strip():
        text += f" ({escape(comment.strip(), 500)})"
    return {"text": text}


def _place(channel: str) -> str:
    if channel[:1] in ("U", "W"):
        return who(channel)
    return f"<#{channel}>" if channel[:1] in ("C", "G") and channel.isalnum() else escape(channel, 100)


def refused(message: str) -> str:
    """A refusal the core explained (self-approval, a second approval by the same person)."""
    return f":no_entry_sign: {escape(message, 1000)}"


def progress(message: str) -> str:
    """To an approver whose approval counted toward N of M."""
    return f":white_check_mark: {escape(message, 1000)}"
