"""Which messages the humans get when events are recorded: pure, written with the events."""

from __future__ import annotations

from collections.abc import Sequence
from typing import assert_never

from agent.events import (
    AgentReply,
    ApprovalDecided,
    ApprovalEdited,
    ApprovalProgress,
    ApprovalRequested,
    DeliveryFailed,
    Error,
    Event,
    GrantGiven,
    GrantUsed,
    HumanMessage,
    QuestionAnswered,
    QuestionAsked,
    RequestEscalated,
    RequestExpired,
    RequestReminded,
    ToolCall,
    ToolOutcomeUnknown,
    ToolResult,
    ToolStarted,
)
from agent.io.model import PROVIDER_SAID
from agent.places import COPY, copies_on_request
from channels.base import clock_text
from storage.store import OutboxDraft

# Threads started through the HTTP API, the CLI or the web inbox have no channel to answer in: their
# humans read the thread where they started it. So do a webhook's or a schedule's with no `ask`.
SILENT_CHANNELS = frozenset({"api", "cli", "web", "hook", "schedule"})


def outbox_for(channel: str, events: Sequence[Event]) -> list[OutboxDraft]:
    # A request a standing grant decided in the same append was never anyone's to answer: no card.
    granted = {e.request_id for e in events if isinstance(e, GrantUsed)}
    # Its copies elsewhere (agent/places.py) go out whatever the thread's channel, even a silent one;
    # what changes them later is written by storage, which knows each request's places.
    copies = [
        OutboxDraft(where, COPY, request_id=e.request_id, text=place)
        for e in events
        if isinstance(e, ApprovalRequested | QuestionAsked) and e.request_id not in granted
        for where, place in copies_on_request(e, channel)
    ]
    return _thread_messages(channel, events, granted) + copies


def _thread_messages(channel: str, events: Sequence[Event], granted: set[str]) -> list[OutboxDraft]:
    if channel in SILENT_CHANNELS:
        return []
    drafts: list[OutboxDraft] = []
    for event in events:
        match event:
            case AgentReply(text=text):
                drafts.append(OutboxDraft(channel, "reply", text=text))
            case ApprovalRequested(request_id=request_id) if request_id in granted:
                pass
            case ApprovalRequested(request_id=request_id):
                drafts.append(OutboxDraft(channel, "approval_request", request_id=request_id))
            case QuestionAsked(request_id=request_id):
                drafts.append(OutboxDraft(channel, "question", request_id=request_id))
            case (
                ApprovalDecided(request_id=request_id)
                | QuestionAnswered(request_id=request_id)
                | RequestExpired(request_id=request_id)
            ):
                drafts.append(OutboxDraft(channel, "decision", request_id=request_id))
            case ApprovalProgress(request_id=request_id, by=by, count=count, required=required, identity=identity):
                who = (identity.person if identity else None) or by
                text = f"{who} approved ({count} of {required}); waiting for {required - count} more approval(s)."
                drafts.append(OutboxDraft(channel, "progress", request_id=request_id, text=text))
            case RequestReminded(request_id=request_id, awaiting=awaiting):
                drafts.append(OutboxDraft(channel, "reminder", request_id=request_id, text=clock_text(awaiting)))
            case RequestEscalated(request_id=request_id, to=to, channel=where):
                text = clock_text(to, where if channel == "slack" else None)
                drafts.append(OutboxDraft(channel, "escalation", request_id=request_id, text=text))
            case Error(fatal=True, message=message, source=source):
                drafts.append(OutboxDraft(channel, "notice", text=stop_notice(source, message)))
            case Error() | HumanMessage() | ToolCall() | ToolResult():
                pass
            case ApprovalEdited():
                pass  # the approval that comes with it updates the card and the mail, edited arguments shown
            case ToolStarted() | ToolOutcomeUnknown():
                pass  # the approvers hear of an unknown outcome through the request it adds
            case GrantUsed() | GrantGiven():
                pass  # the thread and the audit show them; the decision's message names the grant
            case DeliveryFailed():
                pass  # never a message about a message that could not be sent: no loops
            case _:
                assert_never(event)
    return drafts


def stop_notice(source: str, message: str) -> str:
    """What the thread's humans read when it stops on an error; a model's error says what to fix."""
    if source == "model":
        what = message.partition(PROVIDER_SAID)[0].rstrip(". ")
        return f"I had to stop: {what}. Once that is fixed, reply here and I will try again."
    return f"I had to stop: {message}"
