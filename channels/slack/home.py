"""The App Home tab and the `/signoff pending` list: what waits on someone, in Block Kit. Pure.

Each request someone may decide or answer is a short section (the tool and a short form of its
arguments, or the question; who asked, the agent, its age as a live Slack date, reminders sent, a
link to its thread) and the card's own controls: Approve (or "Review full arguments" when the card
could not show them all), Edit where the card has it, Deny; for a question, its options' buttons and
Answer (a small form) where other answers are taken. The buttons carry the same action ids and
values as the card's, so a click here goes through the same handlers and the same rules. Their
threads follow, then counts. A list longer than the surface holds ends with "N more" and a link to
the web inbox when there is one. Everything not built here is escaped (`blocks.escape`/`plain`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from channels.base import HumanRequestView
from channels.slack.blocks import (
    APPROVE_ACTION_ID,
    CHOICE_ACTION_PREFIX,
    DENY_ACTION_ID,
    EDIT_ACTION_ID,
    MAX_OPTIONS,
    OPTION_TEXT_LIMIT,
    REVIEW_ACTION_ID,
    SECTION_LIMIT,
    _argument_lines,
    _button,
    _code,
    _context,
    _header,
    _quote,
    _section,
    can_edit,
    escape,
    link,
    needs_full_view,
    plain,
    units,
    who,
)

ANSWER_ACTION_ID = "signoff_answer"
ANSWER_CALLBACK_ID = "signoff_answer"
ANSWER_BLOCK_ID = "signoff_answer"
ANSWER_INPUT_ACTION_ID = "answer"
NOTICE_CALLBACK_ID = "signoff_notice"
ANSWER_MAX_LENGTH = 3000
HOME_MAX_BLOCKS = 100
MESSAGE_MAX_BLOCKS = 50
SHORT_ARGUMENTS = 160


@dataclass(frozen=True)
class WaitingItem:
    """A request someone may decide or answer, with what the list shows about it."""

    request: HumanRequestView
    agent: str
    asked_at: datetime
    reminders: int = 0
    thread_link: str | None = None


@dataclass(frozen=True)
class OwnThread:
    """A thread someone started that is still open."""

    id: str
    status: str
    agent: str
    started_at: datetime
    link: str | None = None


@dataclass(frozen=True)
class HomeFacts:
    waiting: Sequence[WaitingItem]
    waiting_total: int  # all they may decide, shown or not
    own: Sequence[OwnThread]
    own_total: int
    pending_everywhere: int
    inbox_url: str | None = None


def _ago(at: datetime) -> str:
    """A Slack date token that each reader sees as "3 minutes ago", "2 days ago": the tab stays right
    without being published again as time passes."""
    at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    return f"<!date^{int(at.timestamp())}^{{ago}}|{at.strftime('%Y-%m-%d %H:%M UTC')}>"


def short_arguments(request: HumanRequestView, limit: int = SHORT_ARGUMENTS) -> str:
    """The arguments on one line, cut (`name = value, ...`), as an inert code span."""
    line = ", ".join(_argument_lines(request.arguments)) or "no arguments"
    return f"`{_code(line, limit)}`"


def _subject(request: HumanRequestView) -> str:
    if request.kind == "question":
        return f"*Question:* {escape(' '.join(request.question.split()) or '(no question text)', 300)}"
    return f"*{escape(request.tool or '(unknown tool)', 100)}* {short_arguments(request)}"


def _item_blocks(item: WaitingItem, index: int) -> list[dict[str, Any]]:
    request = item.request
    facts = [
        f"asked for {who(request.requested_by) if request.requested_by else 'someone'}",
        f"agent {escape(item.agent, 100)}",
        _ago(item.asked_at),
    ]
    if item.reminders:
        facts.append(f"{item.reminders} reminder{'s' if item.reminders != 1 else ''} sent")
    if request.required > 1:
        facts.append(f"{len(request.approved_by)} of {request.required} approvals")
    if item.thread_link:
        facts.append(link(item.thread_link, "open the thread"))
    text = _subject(request)
    if request.kind == "approval" and request.reason.strip():
        text += "\n" + _quote(" ".join(request.reason.split()), 500)
    section = _section(text if units(text) <= SECTION_LIMIT else escape(request.tool or "request", 100))
    if request.kind == "question":
        options = request.options[:MAX_OPTIONS]
        buttons = [
            _button(f"{CHOICE_ACTION_PREFIX}{n}", plain(option, OPTION_TEXT_LIMIT) or f"Option {n}", request.id)
            for n, option in enumerate(options, 1)
        ]
        if request.allow_free_text or not options:
            buttons.append(_button(ANSWER_ACTION_ID, "Answer", request.id, None if options else "primary"))
    else:
        first = (
            _button(REVIEW_ACTION_ID, "Review full arguments", request.id, "primary")
            if needs_full_view(request)
            else _button(APPROVE_ACTION_ID, "Approve", request.id, "primary")
        )
        buttons = [first, _button(DENY_ACTION_ID, "Deny", request.id, "danger")]
        if can_edit(request):
            buttons.insert(1, _button(EDIT_ACTION_ID, "Edit", request.id))
    return [
        section,
        _context(" · ".join(facts)),
        {"type": "actions", "block_id": f"signoff_home_{index}", "elements": buttons},
    ]


def _more(count: int, what: str, inbox_url: str | None) -> dict[str, Any]:
    where = f": see {link(inbox_url, 'the web inbox')}" if inbox_url else ""
    return _context(f"_{count} more {what} not shown here{where}._")


def waiting_blocks(facts: HomeFacts, max_blocks: int) -> list[dict[str, Any]]:
    """The requests waiting on someone, as many as fit in `max_blocks` (with "N more" past them)."""
    out: list[dict[str, Any]] = [_header(f"Waiting on you ({facts.waiting_total})")]
    if not facts.waiting:
        out.append(_section("_Nothing waits on you._"))
        return out
    shown = 0
    for index, item in enumerate(facts.waiting):
        blocks = _item_blocks(item, index)
        if len(out) + len(blocks) + 2 > max_blocks:  # room for a divider and "N more"
            break
        out.append({"type": "divider"})
        out.extend(blocks)
        shown += 1
    if facts.waiting_total > shown:
        out.append(_more(facts.waiting_total - shown, "request(s) waiting on you", facts.inbox_url))
    return out


def home_view(facts: HomeFacts) -> dict[str, Any]:
    """The Home tab (`views.publish`): waiting on you, your open threads, counts."""
    own_blocks: list[dict[str, Any]] = [{"type": "divider"}, _header(f"Your open threads ({facts.own_total})")]
    if facts.own:
        lines = []
        for thread in facts.own[:10]:
            where = link(thread.link, "open") if thread.link else f"`{_code(thread.id, 80)}`"
            lines.append(
                f"• {where} · {escape(thread.status, 20)} · agent {escape(thread.agent, 100)} · "
                f"started {_ago(thread.started_at)}"
            )
        own_blocks.append(_section("\n".join(lines)[:SECTION_LIMIT]))
        if facts.own_total > len(facts.own[:10]):
            own_blocks.append(_more(facts.own_total - len(facts.own[:10]), "open thread(s)", facts.inbox_url))
    else:
        own_blocks.append(_section("_None open._"))
    counts = _context(
        f"*{facts.waiting_total}* waiting on you · *{facts.own_total}* of your threads open · "
        f"*{facts.pending_everywhere}* requests pending in all"
    )
    room = HOME_MAX_BLOCKS - len(own_blocks) - 1
    return {"type": "home", "blocks": [*waiting_blocks(facts, room), *own_blocks, counts]}


def pending_message(facts: HomeFacts) -> dict[str, Any]:
    """`/signoff pending`: the same list, as an ephemeral message (`text` is the fallback)."""
    return {
        "text": f"{facts.waiting_total} request(s) waiting on you",
        "blocks": waiting_blocks(facts, MESSAGE_MAX_BLOCKS),
    }


def answer_modal(request: HumanRequestView) -> dict[str, Any]:
    """Answer a question from the Home tab; submitted as `ANSWER_CALLBACK_ID`."""
    blocks: list[dict[str, Any]] = [
        _section(f"*Question*\n{_quote(request.question or '(no question text)', SECTION_LIMIT - 20)}")
    ]
    if request.options:
        blocks.append(_context("Options: " + escape(", ".join(request.options[:20]), 2500)))
    blocks.append(
        {
            "type": "input",
            "block_id": ANSWER_BLOCK_ID,
            "label": {"type": "plain_text", "text": "Your answer"},
            "element": {
                "type": "plain_text_input",
                "action_id": ANSWER_INPUT_ACTION_ID,
                "multiline": True,
                "max_length": ANSWER_MAX_LENGTH,
            },
        }
    )
    return {
        "type": "modal",
        "callback_id": ANSWER_CALLBACK_ID,
        "private_metadata": request.id,
        "title": {"type": "plain_text", "text": "Answer the agent"},
        "submit": {"type": "plain_text", "text": "Answer"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": blocks,
    }


def answer_from(view: dict[str, Any]) -> str:
    value = (
        view.get("state", {}).get("values", {}).get(ANSWER_BLOCK_ID, {}).get(ANSWER_INPUT_ACTION_ID, {}).get("value")
    )
    return value.strip() if isinstance(value, str) else ""


def notice_modal(note: str) -> dict[str, Any]:
    """A refusal or a note for a click made where no ephemeral message can go (the Home tab)."""
    return {
        "type": "modal",
        "callback_id": NOTICE_CALLBACK_ID,
        "title": {"type": "plain_text", "text": "Signoff"},
        "close": {"type": "plain_text", "text": "Close"},
        "blocks": [_section(note if units(note) <= SECTION_LIMIT else plain(note, SECTION_LIMIT))],
    }
