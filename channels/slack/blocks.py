"""Block Kit for Signoff's Slack messages: pure functions from `channels.base` types to payloads.

Everything shown to a human that did not come from this module (the model's reason and arguments,
a question, a human's comment, names) is untrusted. It goes through `escape` (mrkdwn) or `plain`
(plain_text), so it cannot mention `<!channel>`, `<!here>` or `<@U...>`, disguise a link as
`<http://evil|innocent>`, or hide text in invisible characters; and it is cut with an ellipsis to
stay inside Block Kit's limits. The only mentions and links rendered are the ones built here from
checked ids (`who`) and URLs (`link`).

A tool's arguments are shown with everything hard to see marked (`channels.marks`). A card that
cannot show them all in full has no Approve button, only "Review full arguments", which opens
`review_modal`: every argument in full, across as many sections as it takes, and Approve.

Messages are dicts of `chat.postMessage` / `chat.update` arguments: `{"text": fallback, "blocks": [...]}`.
Senders should also pass `unfurl_links=False, unfurl_media=False`, so a link in model output is
never fetched by Slack's unfurler.

Lengths are counted in UTF-16 code units (`units`), never fewer than Slack's characters.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from channels.base import EditField, HumanRequestView
from channels.invisible import is_hidden, marked
from channels.marks import CLOSE, OPEN, mark, mark_value

APPROVE_ACTION_ID = "signoff_approve"
# "Approve and allow the same ...": a static_select whose option value is `<request id> <scope>`.
APPROVE_GRANT_ACTION_ID = "signoff_approve_grant"
DENY_ACTION_ID = "signoff_deny"
REVIEW_ACTION_ID = "signoff_review"
REVIEW_CALLBACK_ID = "signoff_review"
DECISION_BLOCK_ID = "signoff_decision"
DENY_CALLBACK_ID = "signoff_deny_reason"
DENY_REASON_BLOCK_ID = "signoff_deny_reason"
DENY_REASON_ACTION_ID = "reason"
EDIT_ACTION_ID = "signoff_edit"
EDIT_CALLBACK_ID = "signoff_edit"
EDIT_FIELD_BLOCK_PREFIX = "arg:"
EDIT_FIELD_ACTION_ID = "value"
CHOICE_ACTION_PREFIX = "signoff_choice_"  # + the option's number from 1: a question's option buttons
CHOICE_ACTION_PATTERN = r"^signoff_choice_\d+$"
DENY_OPTION_ACTION_PREFIX = "signoff_deny_option_"  # + the option's number from 1: an approval's named denials
DENY_OPTION_ACTION_PATTERN = r"^signoff_deny_option_\d+$"
INPUT_LIMIT = 3000  # a plain_text_input's value
OPTION_TEXT_LIMIT = 75  # a static_select option's text
BLOCK_ID_LIMIT = 255

SECTION_LIMIT = 3000
FIELD_LIMIT = 2000
HEADER_LIMIT = 150
BUTTON_VALUE_LIMIT = 2000
PRIVATE_METADATA_LIMIT = 3000
MESSAGE_TEXT_LIMIT = 39_000  # Slack truncates `text` at 40,000
FALLBACK_LIMIT = 1000
MAX_ARGUMENT_SECTIONS = 8
MAX_MODAL_BLOCKS = 100
MAX_OPTIONS = 20
DENY_REASON_MAX_LENGTH = 2000

ELLIPSIS = "…"
_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_NEWLINES = str.maketrans({"\r": "\n", "\u2028": "\n", "\u2029": "\n"})
_USER_ID = re.compile(r"[UW][A-Z0-9]+")
_GROUP_ID = re.compile(r"S[A-Z0-9]+")
_CODE_BACKTICK = "\u02cb"  # MODIFIER LETTER GRAVE ACCENT: looks like ` but cannot close a code block

_OUTCOMES = {
    "approved": (":white_check_mark:", "Approved"),
    "denied": (":no_entry:", "Denied"),
    "expired": (":hourglass:", "Expired"),
    "answered": (":speech_balloon:", "Answered"),
}


# --- text ------------------------------------------------------------------------------------------


def units(text: str) -> int:
    """Length in UTF-16 code units."""
    return sum(2 if ord(ch) > 0xFFFF else 1 for ch in text)


def _pieces(text: str, *, mrkdwn: bool, reveal: bool) -> list[str]:
    """`text` as atomic pieces: one per kept character, an entity (`&lt;`) or a `[U+200B]` marker."""
    out: list[str] = []
    for ch, hidden in marked(text.replace("\r\n", "\n").translate(_NEWLINES)):
        if hidden:
            if reveal:
                out.append(f"[U+{ord(ch):04X}]")
        elif mrkdwn:
            out.append(_ESCAPES.get(ch, ch))
        else:
            out.append(ch)
    return out


def _cut(text: str, limit: int | None, *, mrkdwn: bool, reveal: bool = False, count: bool = False) -> tuple[str, bool]:
    """`text` rendered and cut to at most `limit` units; also whether anything was cut.

    With `count`, the ellipsis says how many characters were left out.
    """
    if limit is None:
        return "".join(_pieces(text, mrkdwn=mrkdwn, reveal=reveal)), False
    # Bound the work on huge inputs: every piece is at least one unit.
    source = text[: limit + 1]
    pieces = _pieces(source, mrkdwn=mrkdwn, reveal=reveal)
    if len(source) == len(text) and sum(units(p) for p in pieces) <= limit:
        return "".join(pieces), False
    beyond = len(text) - len(source)  # characters never looked at

    def suffix(left_out: int) -> str:
        return f"{ELLIPSIS} (+{left_out} more characters)" if count else ELLIPSIS

    room = limit - units(suffix(len(pieces) + beyond))  # the longest suffix this can need
    if room < 0:
        return (ELLIPSIS if limit >= 1 else ""), True
    used = kept = 0
    for piece in pieces:
        size = units(piece)
        if used + size > room:
            break
        used += size
        kept += 1
    return "".join(pieces[:kept]) + suffix(len(pieces) - kept + beyond), True


def escape(text: str, limit: int | None = None, *, reveal_hidden: bool = False) -> str:
    """`text` made inert for mrkdwn: `&`, `<`, `>` escaped as Slack documents, invisible characters
    removed (or, with `reveal_hidden`, shown as `[U+XXXX]`), and cut to at most `limit` units with
    an ellipsis. Entities and markers are never split."""
    return _cut(text, limit, mrkdwn=True, reveal=reveal_hidden)[0]


def plain(text: str, limit: int | None = None) -> str:
    """`text` for a `plain_text` object (Slack shows it literally): invisible characters removed and
    cut to at most `limit` units with an ellipsis."""
    return _cut(text, limit, mrkdwn=False)[0]


def who(identity: str) -> str:
    """A person or group as mrkdwn: a Slack user id (`U…`/`W…`) as a mention, a user group id
    (`S…`) as a group mention, anything else (an email address, a name) escaped, on one line."""
    if _USER_ID.fullmatch(identity):
        return f"<@{identity}>"
    if _GROUP_ID.fullmatch(identity):
        return f"<!subteam^{identity}>"
    return escape(" ".join(identity.split()), 200)


def link(url: str, label: str) -> str:
    """A mrkdwn link to an http(s) URL that we produced (e.g. a permalink); the label is escaped."""
    if not re.fullmatch(r"https?://[^\s]+", url) or any(is_hidden(ch) for ch in url):
        raise ValueError(f"not an http(s) URL: {url!r}")
    safe = url.replace("&", "&amp;").replace("<", "%3C").replace(">", "%3E").replace("|", "%7C")
    return f"<{safe}|{escape(label, 200)}>"


def _people(identities: Iterable[str], limit: int, nobody: str) -> str:
    """Identities rendered by `who`, comma-separated, ending in "and N more" past `limit` units."""
    items = list(identities)
    shown: list[str] = []
    for i, identity in enumerate(items):
        if units(", ".join([*shown, who(identity)])) > limit - 20:  # room for " and N more"
            return ", ".join(shown) + f" and {len(items) - i} more"
        shown.append(who(identity))
    return ", ".join(shown) or nobody


def _code(text: str, limit: int) -> str:
    """Escaped text for inside a code span or block: backticks cannot end it."""
    return escape(text, limit, reveal_hidden=True).replace("`", _CODE_BACKTICK)


def _inline_code(text: str, limit: int = 200) -> str:
    return f"`{_code(text, limit - 2)}`"


def _quote(text: str, limit: int) -> str:
    """Escaped text as a mrkdwn block quote, at most `limit` units."""
    budget = limit
    while True:
        body = escape(text, max(budget, 0))
        quoted = "\n".join(f">{line}" for line in body.split("\n"))
        if units(quoted) <= limit or budget <= 0:
            return quoted
        budget -= units(quoted) - limit


def _date(at: datetime) -> str:
    """A Slack date token (shown in each reader's time zone) with a UTC fallback."""
    at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    fallback = at.strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(at.timestamp())}^{{date_short_pretty}} at {{time}}|{fallback}>"


# --- blocks ----------------------------------------------------------------------------------------


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}


def _header(text: str) -> dict[str, Any]:
    return {"type": "header", "text": {"type": "plain_text", "text": plain(text, HEADER_LIMIT), "emoji": True}}


def _json(value: Any) -> str:
    """`value` as JSON, line separators escaped as JSON allows, so a value shows on one line."""
    return json.dumps(value, ensure_ascii=False, default=str).replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def _argument_lines(arguments: Mapping[str, Any]) -> list[str]:
    """Each argument as `name = <JSON value>`, everything hard to see in it marked (`channels.marks`)."""
    return [f"{mark(str(name))} = {_json(mark_value(value))}" for name, value in arguments.items()]


def _code_pieces(line: str) -> list[str]:
    return [piece.replace("`", _CODE_BACKTICK) for piece in _pieces(line, mrkdwn=True, reveal=True)]


def _arguments_note(lines: list[str]) -> list[str]:
    if any(OPEN in line for line in lines):
        return [f":warning: The arguments hold characters that are hard to see, shown as `{OPEN}…{CLOSE}` marks."]
    return []


def _argument_blocks(arguments: Mapping[str, Any]) -> tuple[list[dict[str, Any]], list[str], bool]:
    """Sections showing every argument as `name = <JSON value>` in code blocks, notes, and whether
    everything was shown (nothing cut, no argument left out)."""
    title = "*Arguments*\n"
    budget = SECTION_LIMIT - units(title) - 6  # the two ``` fences
    lines: list[str] = []
    shortened = False
    marked = _argument_lines(arguments)
    for raw in marked:
        line, cut = _cut(raw, budget, mrkdwn=True, reveal=True, count=True)
        shortened = shortened or cut
        lines.append(line.replace("`", _CODE_BACKTICK))
    if not lines:
        return [_section("*Arguments*\n_none_")], [], True
    chunks: list[list[str]] = [[]]
    for line in lines:
        current = chunks[-1]
        if current and units("\n".join([*current, line])) > budget:
            chunks.append([line])
        else:
            current.append(line)
    notes: list[str] = []
    dropped = len(chunks) > MAX_ARGUMENT_SECTIONS
    if dropped:
        left = sum(len(c) for c in chunks[MAX_ARGUMENT_SECTIONS:])
        chunks = chunks[:MAX_ARGUMENT_SECTIONS]
        notes.append(f":warning: {left} more argument(s) are not shown here.")
    if shortened:
        notes.append(":warning: Some long values are shortened here.")
    if shortened or dropped:
        notes.append("*Review the full arguments before approving:* the card does not show all of what would run.")
    notes.extend(_arguments_note(marked))
    blocks = [
        _section(("*Arguments*\n" if i == 0 else "") + "```" + "\n".join(chunk) + "```")
        for i, chunk in enumerate(chunks)
    ]
    return blocks, notes, not (shortened or dropped)


def needs_full_view(request: HumanRequestView) -> bool:
    """Whether the approval card cannot show all of the request's arguments: then it offers no
    Approve button, only the full view (`review_modal`), from which approving is possible."""
    return request.kind == "approval" and not _argument_blocks(request.arguments)[2]


def _summary_blocks(request: HumanRequestView) -> list[dict[str, Any]]:
    """What the request is about: the tool, arguments and reason, or the question and options."""
    asked_for = _people([request.requested_by], FIELD_LIMIT - 30, "unknown")
    if request.kind == "question":
        blocks = [_section(f"*Question*\n{_quote(request.question or '(no question text)', SECTION_LIMIT - 20)}")]
        if request.options:
            shown = request.options[:MAX_OPTIONS]
            per = (SECTION_LIMIT - 40) // max(len(shown), 1) - 4
            text = "\n".join(f"• {escape(option, min(per, 300))}" for option in shown)
            if len(request.options) > MAX_OPTIONS:
                text += f"\n_and {len(request.options) - MAX_OPTIONS} more_"
            blocks.append(_section(f"*Options*\n{text}"))
        blocks.append(_context(f"Asked for {asked_for} · request {_inline_code(request.id, 120)}"))
        return blocks
    fields = [
        {"type": "mrkdwn", "text": f"*Tool*\n{_inline_code(request.tool or '(unknown tool)')}"},
        {"type": "mrkdwn", "text": f"*Requested by*\n{asked_for}"},
        {
            "type": "mrkdwn",
            "text": f"*Who may approve*\n{_people(request.allowed, FIELD_LIMIT - 30, 'anyone in this conversation')}",
        },
        {"type": "mrkdwn", "text": f"*Request*\n{_inline_code(request.id, 300)}"},
    ]
    arguments, notes, _complete = _argument_blocks(request.arguments)
    reason = request.reason.strip()
    reason_text = _quote(reason, SECTION_LIMIT - 40) if reason else "_No reason given._"
    blocks = [{"type": "section", "fields": fields}, *arguments]
    blocks.append(_section(f"*Why, according to the agent*\n{reason_text}"))
    blocks.extend(_context(note) for note in notes)
    return blocks


def _button(action_id: str, label: str, value: str, style: str | None = None) -> dict[str, Any]:
    button: dict[str, Any] = {
        "type": "button",
        "action_id": action_id,
        "value": value,
        "text": {"type": "plain_text", "text": label, "emoji": True},
    }
    if style:
        button["style"] = style
    return button


def approval_card(request: HumanRequestView, thread_link: str | None = None) -> dict[str, Any]:
    """The interactive approval request: what will run, with which arguments, why, for whom, who
    may approve, and Approve / Deny buttons whose value is the request id.

    When the card cannot show every argument in full, it has no Approve button: "Review full
    arguments" opens `review_modal`, which shows them all and approves."""
    if units(request.id) > BUTTON_VALUE_LIMIT:
        raise ValueError("request id too long for a button value")
    tool = request.tool or "(unknown tool)"
    blocks = [_header(f"Approval needed: {tool}"), *_summary_blocks(request), *policy_context(request)]
    if thread_link:
        blocks.append(_context(link(thread_link, "Open the conversation")))
    first = (
        _button(REVIEW_ACTION_ID, "Review full arguments", request.id, "primary")
        if needs_full_view(request)
        else _button(APPROVE_ACTION_ID, "Approve", request.id, "primary")
    )
    deny = _button(DENY_ACTION_ID, "Deny", request.id, "danger")
    elements = [first, deny]
    if can_edit(request):
        elements.insert(1, _button(EDIT_ACTION_ID, "Edit", request.id))
    if request.grant_offers and not needs_full_view(request):
        elements.append(grant_select(request))
    blocks.append({"type": "actions", "block_id": DECISION_BLOCK_ID, "elements": elements})
    blocks.extend(_deny_option_rows(request))
    requester = _people([request.requested_by], 200, "someone")
    text = f"Approval needed to run {escape(tool, 100)}, requested by {requester}"
    if request.reason.strip():
        text += f": {escape(request.reason.strip(), FALLBACK_LIMIT - units(text) - 2)}"
    return {"text": text, "blocks": blocks}


def _deny_option_rows(request: HumanRequestView) -> list[dict[str, Any]]:
    """A button per named way to deny (`DENY_OPTION_ACTION_PREFIX` + its number; the value is the
    request id), in rows of 5 under Approve / Deny."""
    options = request.deny_options[:MAX_OPTIONS]
    rows = []
    for start in range(0, len(options), 5):
        buttons = [
            _button(f"{DENY_OPTION_ACTION_PREFIX}{n}", plain(option.label, OPTION_TEXT_LIMIT) or "Deny", request.id)
            for n, option in enumerate(options[start : start + 5], start + 1)
        ]
        rows.append({"type": "actions", "block_id": f"signoff_deny_options_{start // 5}", "elements": buttons})
    return rows


def grant_select(request: HumanRequestView) -> dict[str, Any]:
    """Approve, and allow the same for a while (a standing grant): one option per grant the tool allows."""
    options = [
        {
            "text": {"type": "plain_text", "text": plain(f"Approve {offer.label}", 75)},
            "value": f"{request.id} {offer.scope}",
        }
        for offer in request.grant_offers
    ]
    return {
        "type": "static_select",
        "action_id": APPROVE_GRANT_ACTION_ID,
        "placeholder": {"type": "plain_text", "text": "Approve and allow the same..."},
        "options": options,
    }


def grant_choice(action: Mapping[str, Any]) -> tuple[str, str]:
    """`(request id, scope)` from a grant select's action payload; ("", "") when it holds none."""
    value = str((action.get("selected_option") or {}).get("value") or "")
    request_id, _, scope = value.partition(" ")
    return request_id, scope


def policy_context(request: HumanRequestView) -> list[dict[str, Any]]:
    """The rule that matched and the progress toward N of M, as a context line (none by default)."""
    parts = []
    if request.rule.strip():
        parts.append(f"*Rule:* {escape(request.rule.strip(), 300)}")
    if request.required > 1:
        done = ", ".join(who(a) for a in request.approved_by[:10])
        parts.append(
            f"*{len(request.approved_by)} of {request.required}* approvals" + (f" (approved by {done})" if done else "")
        )
    return [_context("  ·  ".join(parts))] if parts else []


def _code_sections(lines: list[str], title: str) -> list[dict[str, Any]]:
    """`lines` in code blocks across as many sections as they need, nothing cut: a line longer than
    a section goes on in the next one. Entities and marks are never split."""
    budget = SECTION_LIMIT - units(title) - 6
    chunks: list[list[str]] = []
    current: list[str] = []
    used = 0
    for n, line in enumerate(lines):
        for piece in (["\n"] if n else []) + _code_pieces(line):
            size = units(piece)
            if current and used + size > budget:
                chunks.append(current)
                current, used = [], 0
                if piece == "\n":
                    continue
            current.append(piece)
            used += size
    if current:
        chunks.append(current)
    return [_section((title if i == 0 else "") + "```" + "".join(chunk) + "```") for i, chunk in enumerate(chunks)]


def review_modal(request: HumanRequestView) -> dict[str, Any]:
    """The full view of an approval request: every argument in full, marks included, chunked across
    sections; submitting it (`REVIEW_CALLBACK_ID`) approves. Arguments too large even for a modal
    (more than Slack's 100 blocks) get no Approve: the modal says where to review and decide."""
    if units(request.id) > PRIVATE_METADATA_LIMIT:
        raise ValueError("request id too long for private_metadata")
    tool = request.tool or "(unknown tool)"
    lines = _argument_lines(request.arguments)
    head = [
        _section(
            f"*Tool* {_inline_code(tool)}\n*Requested by* {_people([request.requested_by], 500, 'unknown')}\n"
            f"*Who may approve* {_people(request.allowed, 1500, 'anyone in this conversation')}"
        )
    ]
    reason = request.reason.strip()
    head.append(
        _section(
            f"*Why, according to the agent*\n{_quote(reason, SECTION_LIMIT - 40) if reason else '_No reason given._'}"
        )
    )
    arguments = _code_sections(lines, "*Arguments, in full*\n") if lines else [_section("*Arguments*\n_none_")]
    notes = [_context(note) for note in _arguments_note(lines)]
    view: dict[str, Any] = {
        "type": "modal",
        "callback_id": REVIEW_CALLBACK_ID,
        "private_metadata": request.id,
        "title": {"type": "plain_text", "text": "Review request"},
        "close": {"type": "plain_text", "text": "Cancel"},
    }
    if len(head) + len(arguments) + len(notes) + 1 > MAX_MODAL_BLOCKS:
        view["blocks"] = [
            *head,
            _section(
                f":no_entry: The arguments are too large to show in Slack, so they cannot be approved here. "
                f"Review them with `signoff threads show {_code(request.thread_id, 200)}` and decide with "
                f"`signoff approve {_code(request.id, 200)}`."
            ),
        ]
        return view
    view["submit"] = {"type": "plain_text", "text": "Approve"}
    view["blocks"] = [
        *head,
        *arguments,
        *notes,
        _context("Approve runs exactly these arguments. To deny, use Deny on the card."),
    ]
    return view


def review_outcome_modal(note: str) -> dict[str, Any]:
    """What replaces the full view when its Approve decided nothing (already decided, not allowed);
    `note` is mrkdwn made safe by `channels.slack.notes` (its mentions are ours)."""
    return {
        "type": "modal",
        "title": {"type": "plain_text", "text": "Review request"},
        "close": {"type": "plain_text", "text": "Close"},
        "blocks": [_section(note if units(note) <= SECTION_LIMIT else ELLIPSIS)],
    }


def decided_card(request: HumanRequestView, outcome: str, by: str, at: datetime, comment: str = "") -> dict[str, Any]:
    """The request after the fact: the same summary, no buttons, and who decided when."""
    emoji, label = _OUTCOMES.get(outcome, (":information_source:", plain(outcome.capitalize(), 40) or "Closed"))
    subject = (request.tool or "(unknown tool)") if request.kind == "approval" else "question from the agent"
    blocks = [_header(f"{emoji} {label}: {subject}"), *_summary_blocks(request)]
    if comment.strip():
        blocks.append(_section(f"*Comment*\n{_quote(comment.strip(), SECTION_LIMIT - 20)}"))
    decider = f" by {who(by)}" if by else ""
    blocks.append(_context(f"{emoji} *{escape(label)}*{decider} at {_date(at)}"))
    if request.granted and outcome == "approved":
        blocks.append(_context(escape(request.granted, 500)))
    text = f"{escape(label)}{decider}: {escape(subject, 200)}"
    if comment.strip():
        text += f" ({escape(comment.strip(), 500)})"
    return {"text": text, "blocks": blocks}


def question_message(request: HumanRequestView) -> dict[str, Any]:
    """A question from the agent, answered by replying in the thread or, when it offers options, by
    their buttons (`CHOICE_ACTION_PREFIX` + the option's number; the value is the request id)."""
    allowed = _people(request.allowed, 1000, "anyone in this conversation")
    options = request.options[:MAX_OPTIONS]
    how = "*Reply in this thread to answer.*"
    if options:
        how = "*Reply in this thread to answer, or use a button.*" if request.allow_free_text else "*Pick an answer.*"
    blocks = [_header(":question: The agent has a question"), *_summary_blocks(request)]
    for start in range(0, len(options), 5):  # an actions block holds at most 25 elements; rows of 5 read well
        buttons = [
            _button(f"{CHOICE_ACTION_PREFIX}{n}", plain(option, OPTION_TEXT_LIMIT) or f"Option {n}", request.id)
            for n, option in enumerate(options[start : start + 5], start + 1)
        ]
        blocks.append({"type": "actions", "block_id": f"signoff_choices_{start // 5}", "elements": buttons})
    blocks.append(_context(f"{how} Who may answer: {allowed}"))
    text = f"Question from the agent: {escape(request.question, FALLBACK_LIMIT)} (reply in this thread)"
    return {"text": text, "blocks": blocks}


def can_edit(request: HumanRequestView) -> bool:
    """Whether the card offers Edit: the request takes edits, no approval counts yet (an edit then is
    refused), and every field fits a modal's input."""
    fields = request.edit_fields
    return (
        bool(fields)
        and not request.approved_by
        and len(fields) <= MAX_MODAL_BLOCKS - 5
        and all(units(f.value) <= INPUT_LIMIT for f in fields)
        and all(units(EDIT_FIELD_BLOCK_PREFIX + f.name) <= BLOCK_ID_LIMIT for f in fields)
    )


def edit_modal(request: HumanRequestView) -> dict[str, Any]:
    """The arguments as a form, prefilled with what would run now; submitting it (`EDIT_CALLBACK_ID`)
    approves the call with the arguments as edited, checked by the core first."""
    if units(request.id) > PRIVATE_METADATA_LIMIT:
        raise ValueError("request id too long for private_metadata")
    tool = request.tool or "(unknown tool)"
    blocks: list[dict[str, Any]] = [
        _section(f"*Tool* {_inline_code(tool)}\n*Requested by* {_people([request.requested_by], 500, 'unknown')}")
    ]
    for field in request.edit_fields:
        blocks.append(_edit_input(field))
    blocks.append(_context("Approve runs exactly the arguments above; the agent is told what you changed."))
    return {
        "type": "modal",
        "callback_id": EDIT_CALLBACK_ID,
        "private_metadata": request.id,
        "title": {"type": "plain_text", "text": "Edit and approve"},
        "submit": {"type": "plain_text", "text": "Approve"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": blocks,
    }


def _edit_input(field: EditField) -> dict[str, Any]:
    element: dict[str, Any]
    choices = list(field.choices) if field.kind == "choice" else ["true", "false"] if field.kind == "boolean" else []
    if choices and len(choices) <= 100 and all(units(c) <= OPTION_TEXT_LIMIT for c in choices):
        options = [_select_option(c) for c in choices]
        element = {"type": "static_select", "action_id": EDIT_FIELD_ACTION_ID, "options": options}
        initial = next((o for o in options if o["value"] == field.value), None)
        if initial is not None:
            element["initial_option"] = initial
    else:
        element = {
            "type": "plain_text_input",
            "action_id": EDIT_FIELD_ACTION_ID,
            "multiline": field.kind == "json" or "\n" in field.value or units(field.value) > 150,
            "max_length": INPUT_LIMIT,
        }
        if field.value:
            element["initial_value"] = field.value
    kind = {"json": "JSON", "choice": "one of the options"}.get(field.kind, field.kind)
    hint = f"{field.description} ({kind})" if field.description else f"({kind})"
    block: dict[str, Any] = {
        "type": "input",
        "block_id": EDIT_FIELD_BLOCK_PREFIX + field.name,
        "label": {"type": "plain_text", "text": plain(field.name, HEADER_LIMIT) or "?"},
        "hint": {"type": "plain_text", "text": plain(hint, HEADER_LIMIT)},
        "optional": not field.required or field.nullable,
        "element": element,
    }
    return block


def _select_option(choice: str) -> dict[str, Any]:
    return {"text": {"type": "plain_text", "text": plain(choice, OPTION_TEXT_LIMIT) or "?"}, "value": choice}


def edit_values_from(view: Mapping[str, Any]) -> dict[str, str]:
    """What was typed into a submitted `edit_modal`, by argument name, as text."""
    values: dict[str, str] = {}
    state = view.get("state", {}).get("values", {})
    for block_id, actions in state.items() if isinstance(state, Mapping) else ():
        if not isinstance(block_id, str) or not block_id.startswith(EDIT_FIELD_BLOCK_PREFIX):
            continue
        action = actions.get(EDIT_FIELD_ACTION_ID) if isinstance(actions, Mapping) else None
        if not isinstance(action, Mapping):
            continue
        if action.get("type") == "static_select":
            selected = action.get("selected_option") or {}
            value = selected.get("value") if isinstance(selected, Mapping) else None
        else:
            value = action.get("value")
        values[block_id[len(EDIT_FIELD_BLOCK_PREFIX) :]] = value if isinstance(value, str) else ""
    return values


def edit_errors(problems: Mapping[str, str], fields: Iterable[str]) -> dict[str, Any]:
    """`response_action: errors` for a submitted `edit_modal`: each problem under its field (one
    that names no field goes under the first)."""
    names = list(fields)
    errors: dict[str, str] = {}
    for name, why in problems.items():
        target = name if name in names else (names[0] if names else name)
        key = EDIT_FIELD_BLOCK_PREFIX + target
        errors[key] = plain((errors[key] + "; " if key in errors else "") + why, 150)
    return {"response_action": "errors", "errors": errors}


def reply_message(text: str) -> dict[str, Any]:
    """An agent's reply: mrkdwn-escaped text (formatting kept, mentions and links inert)."""
    body = escape(text, MESSAGE_TEXT_LIMIT)
    return {"text": body if body.strip() else "_(empty reply)_"}


def deny_modal(request_id: str, option: int | None = None, label: str = "", prefill: str = "") -> dict[str, Any]:
    """The modal that asks why a request is denied; submitted as `DENY_CALLBACK_ID`. For one of its
    named ways to deny (`option`, from 1), it says which, prefilled with `prefill`; its metadata
    is `<request id>#<option>` (`deny_modal_target` reads it)."""
    metadata = request_id if option is None else f"{request_id}#{option}"
    if units(metadata) > PRIVATE_METADATA_LIMIT:
        raise ValueError("request id too long for private_metadata")
    element: dict[str, Any] = {
        "type": "plain_text_input",
        "action_id": DENY_REASON_ACTION_ID,
        "multiline": True,
        "max_length": DENY_REASON_MAX_LENGTH,
        "placeholder": {"type": "plain_text", "text": "e.g. not during business hours"},
    }
    if prefill.strip():
        element["initial_value"] = prefill.strip()[:DENY_REASON_MAX_LENGTH]
    blocks: list[dict[str, Any]] = []
    if option is not None:
        blocks.append(_section(f"*Deny:* {escape(label, 500)}"))
    blocks.append(
        {
            "type": "input",
            "block_id": DENY_REASON_BLOCK_ID,
            "label": {"type": "plain_text", "text": "Why are you denying this?"},
            "hint": {"type": "plain_text", "text": "The agent reads your reason and adapts."},
            "element": element,
        }
    )
    return {
        "type": "modal",
        "callback_id": DENY_CALLBACK_ID,
        "private_metadata": metadata,
        "title": {"type": "plain_text", "text": "Deny request"},
        "submit": {"type": "plain_text", "text": "Deny"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": blocks,
    }


def deny_modal_target(view: Mapping[str, Any]) -> tuple[str, int | None]:
    """The request a submitted `deny_modal` denies, and the named way to deny it was opened for."""
    metadata = str(view.get("private_metadata") or "")
    request_id, mark, option = metadata.rpartition("#")
    return (request_id, int(option)) if mark and option.isdigit() else (metadata, None)


def deny_reason_from(view: Mapping[str, Any]) -> str:
    """The reason typed into a submitted `deny_modal` (the `view` of a view_submission payload)."""
    value = (
        view.get("state", {})
        .get("values", {})
        .get(DENY_REASON_BLOCK_ID, {})
        .get(DENY_REASON_ACTION_ID, {})
        .get("value")
    )
    return value.strip() if isinstance(value, str) else ""
