"""Where a human request is delivered besides its own thread. Pure: no I/O.

Declared per agent (`Agent(deliver_to=["slack:C0APPROVERS", "slack:dm", "email"])`) and per gated
tool (`@agent.tool(needs_approval=True, deliver_to=[...])`, which replaces the agent's list for its
calls). Questions take the agent's. A place is one of:

    slack:<channel id>   the card in that Slack channel (C... or G...), linked to the thread
    slack:dm             the card in a direct message to each approver with a Slack id
    email                the request's mail to each approver with an address

The thread where the request was asked always gets it as before. Each place is its own outbox
row, so one that fails does not hold back the others. The first valid decision wins wherever it was
made (N of M counts each person once across places); every copy then shows the outcome.
`decided_mail=True` sends the emailed approvers who did not answer one short "decided by" mail.

A request's event carries its places as `copies`, in this form, with `email:decided` for mail that
is followed by that note; the copies' outbox rows carry the place as their text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from agent.events import (
    ApprovalDecided,
    ApprovalProgress,
    ApprovalRequested,
    Event,
    QuestionAnswered,
    QuestionAsked,
    RequestEscalated,
    RequestExpired,
)

SLACK_DM = "slack:dm"
EMAIL = "email"
EMAIL_DECIDED = "email:decided"
MAX_PLACES = 10
_SLACK_CHANNEL = re.compile(r"slack:([CG][A-Z0-9]{2,30})")

COPY = "copy"  # the outbox kind of a copy's first message
COPY_UPDATE = "copy_update"  # ... and of what updates it (the outcome, an approval toward N)


def places_from(where: str, deliver_to: Sequence[str] | None, decided_mail: bool) -> tuple[tuple[str, ...], list[str]]:
    """The places as a request's event carries them, and what is wrong with the declaration
    (each problem naming `where`). None or empty: nowhere but the thread."""
    if deliver_to is None:
        return (), []
    if isinstance(deliver_to, str):
        return (), [f"{where}: deliver_to must be a list of places, e.g. ['slack:C0APPROVERS', 'slack:dm', 'email']"]
    problems: list[str] = []
    places: list[str] = []
    for place in deliver_to:
        text = place.strip() if isinstance(place, str) else ""
        if text == EMAIL:
            text = EMAIL_DECIDED if decided_mail else EMAIL
        elif text != SLACK_DM and not _SLACK_CHANNEL.fullmatch(text):
            problems.append(
                f"{where}: deliver_to place {place!r} is none of 'slack:<channel id>' (e.g. 'slack:C0APPROVERS'), "
                "'slack:dm' or 'email'"
            )
            continue
        if text not in places:
            places.append(text)
    if len(places) > MAX_PLACES:
        problems.append(f"{where}: deliver_to names {len(places)} places; at most {MAX_PLACES}")
    return tuple(places), problems


def as_declared(place: str) -> str:
    """The place as an agent declares it (`email`, not `email:decided`)."""
    return EMAIL if place == EMAIL_DECIDED else place


def channel_of(place: str) -> str:
    """The channel (`slack`, `email`) that delivers to a place."""
    return place.partition(":")[0]


def copies_on_request(event: Event, thread_channel: str) -> list[tuple[str, str]]:
    """(channel, place) of each copy a request's event asks for. The mail place is left out for a
    thread that lives in email: its own request mail already goes to the approvers."""
    if not isinstance(event, ApprovalRequested | QuestionAsked):
        return []
    return [(channel_of(p), p) for p in event.copies if not (thread_channel == EMAIL and channel_of(p) == EMAIL)]


def updates_for(event: Event, copies: Iterable[str]) -> list[tuple[str, str]]:
    """(channel, place) of each copy that this event about its request changes: Slack cards show
    every outcome and each approval toward N (and who may decide after an escalation); mail is sent
    once more only for the outcome, and only where the place asks for it."""
    final = isinstance(event, ApprovalDecided | QuestionAnswered | RequestExpired)
    if not final and not isinstance(event, ApprovalProgress | RequestEscalated):
        return []
    found = []
    for place in copies:
        channel = channel_of(place)
        if channel == "slack" or (final and place == EMAIL_DECIDED):
            found.append((channel, place))
    return found
