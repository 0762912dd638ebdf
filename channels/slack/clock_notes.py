"""What the clock says in Slack: a reminder naming who a request still waits for, and the note
that it was escalated to more people. Pure, like `blocks`: untrusted text through `escape`, every
person through `who` (so a Slack user id is a mention they are notified by)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from channels.base import HumanRequestView, Outbound
from channels.slack.blocks import _GROUP_ID, _USER_ID, _people, escape

PEOPLE_LIMIT = 1500


def shown(message: Outbound) -> list[str]:
    """Each of the message's people as Slack shows them best: their Slack user (or group) id, so
    the mention notifies them, else the name the request gives."""
    out = []
    for name in message.people:
        ids = [a for a in message.aliases.get(name, (name,)) if _USER_ID.fullmatch(a) or _GROUP_ID.fullmatch(a)]
        out.append(ids[0] if ids else name)
    return list(dict.fromkeys(out))


def _subject(request: HumanRequestView) -> str:
    if request.kind == "question":
        return "The agent's question"
    return f"`{escape(request.tool or 'this request', 100).replace('`', 'ˋ')}`"


def _how(request: HumanRequestView) -> str:
    return "reply in this thread" if request.kind == "question" else "use the buttons on the request"


def reminder(request: HumanRequestView, awaiting: Sequence[str]) -> dict[str, Any]:
    names = _people(awaiting or request.allowed, PEOPLE_LIMIT, "its approvers")
    progress = ""
    if request.kind == "approval" and request.required > 1:
        progress = f" ({len(request.approved_by)} of {request.required} approvals so far)"
    text = f":alarm_clock: Reminder: {_subject(request)} is still waiting for {names}{progress}."
    return {"text": f"{text} To answer, {_how(request)}."}


def escalation(request: HumanRequestView, to: Sequence[str]) -> dict[str, Any]:
    names = _people(to, PEOPLE_LIMIT, "more people")
    text = (
        f":rotating_light: Escalated: {_subject(request)} has had no answer in time, so {names} may now "
        f"{'answer' if request.kind == 'question' else 'decide'} it too. To answer, {_how(request)}."
    )
    return {"text": text}
