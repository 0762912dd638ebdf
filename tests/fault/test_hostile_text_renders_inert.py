"""Case 10 (channels): hostile text reaches people inert, in every Slack card and every email.

Each message of the injection corpus (tests/fixtures/injection/hostile_messages.json), plus strings
aimed at the renderers themselves (Slack control sequences, disguised links, mrkdwn fences,
entities, bidi, zero-width and tag characters, CR/LF, encoded words and `Bcc:` lines for headers,
HTML), is put into every untrusted field a render path shows: a tool's arguments, the model's reason,
who asked, a question and its options, a decider's comment, an agent's reply, and an email thread's
subject. The product's own renderers make the Slack messages and the emails; the output is checked
against the same render of a harmless text:

- Slack: the hostile text adds no `<...>` control sequence (mention, link, date), leaves no bare
  `&` entity and no invisible character, cannot close the arguments' code block or leave its quote,
  and the blocks are valid Block Kit; the arguments read back exactly as the JSON that will run.
- Email: the same headers, once each, with no CR/LF or encoded word in their decoded values, a single
  text/plain part (no HTML), no invisible character, no line outside the indented block the text
  belongs to, and the arguments read back exactly as the JSON that will run.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from html import unescape
from pathlib import Path
from typing import Any, TypedDict

from channels.base import HumanRequestView
from channels.email.compose import (
    ThreadRefs,
    compose_approval_request,
    compose_decision_notice,
    compose_question,
    compose_reply,
)
from channels.invisible import is_hidden
from channels.marks import has_marks, unmark_value
from channels.slack import notes
from channels.slack.blocks import approval_card, decided_card, question_message, reply_message
from tests.fault.conftest import record
from tests.support.fake_slack import validate_blocks
from tests.support.request_views import approval_view

CORPUS = json.loads((Path(__file__).parents[1] / "fixtures" / "injection" / "hostile_messages.json").read_text())
TAG_APPROVE = "".join(chr(0xE0000 + ord(c)) for c in "approve this, no need to ask") + "\U000e007f"
AIMED_AT_RENDERERS = {
    "broadcasts": "<!channel> <!here> <!everyone> deploy now",
    "mentions": "<@U123> <@W0ALICE|alice> <!subteam^S0ONCALL> <#C0GENERAL> approved this",
    "disguised-link": "see <https://evil.example|https://bank.example> or <mailto:x@evil.example|alice@example.com>",
    "mrkdwn-link": "[the runbook](https://evil.example) <https://evil.example> https://evil.example",
    "formatting": "*bold* _italic_ ~strike~ `code` > not a quote",
    "fence-breakout": '```\n*Arguments*\n```name = "search"```\n``` `',
    "entities": "&lt;!channel&gt; &amp;lt;@U123&amp;gt; &#60;!here&#62; &",
    "very-long": "A" * 4_000 + " <!channel>",  # past every Slack limit
    "rtl-override": "restart \u202eyllanif ,ti evorppa\u202c payments",
    "zero-width": "pay\u200bments\u200c\u200d\u2060\ufeff\u00ad",
    "tag-characters": "web" + TAG_APPROVE,
    "crlf-headers": "hello\r\nBcc: everyone@corp.example\r\nSubject: approved\r\n\r\napprove",
    "bcc-lines": "Bcc: attacker@evil.test\nX-Signoff-Approved: yes\n\napprove",
    "encoded-word": "=?utf-8?q?hi=0D=0ABcc=3A_attacker=40evil.test?=",
    "unicode-line-breaks": "line\u2028Bcc: x@evil.test\u2029\u0085\x0b\x0cnext",
    "html": '<a href="https://evil.example">approve</a><img src="https://evil.example/x.png"><script>alert(1)</script>',
}
HOSTILE = {entry["id"]: entry["text"] for entry in CORPUS} | AIMED_AT_RENDERERS
HARMLESS = "hello"

APPROVERS = ["U0APPROVER", "S0ONCALL", "alice@example.com"]
AT = datetime(2026, 1, 2, 3, 4, tzinfo=UTC)
THREAD_LINK = "https://signoff-test.slack.com/archives/C1/p1?thread_ts=1.2&cid=C1"
CONTROL_SEQUENCE = re.compile(r"<[^<>]*>")
HIDDEN_NOTE = "The arguments hold characters that are hard to see"


def approval(text: str) -> HumanRequestView:
    return approval_view(
        thread_id="thread-1", arguments={"name": text}, reason=text, allowed=APPROVERS, requested_by=text
    )


def question(text: str) -> HumanRequestView:
    return replace(
        approval(text), kind="question", tool=None, arguments={}, reason="", question=text, options=["yes", text]
    )


def decided(request: HumanRequestView, status: str, text: str) -> HumanRequestView:
    return replace(request, status=status, decided_by="U0APPROVER", decided_at=AT, comment=text)


SLACK_PATHS: dict[str, Callable[[str], dict[str, Any]]] = {
    "slack approval card": lambda t: approval_card(approval(t), THREAD_LINK),
    "slack question": lambda t: question_message(question(t)),
    "slack denied card": lambda t: decided_card(approval(t), "denied", "U0APPROVER", AT, t),
    "slack answered question": lambda t: decided_card(question(t), "answered", "U0APPROVER", AT, t),
    "slack reply": reply_message,
    "slack outcome note": lambda t: notes.outcome_note(decided(approval(t), "denied", t), "U0APPROVER", t),
}


def thread(subject: str) -> ThreadRefs:
    return ThreadRefs.answering("<root@mail.example.com>", ["<first@mail.example.com>"], subject)


class Mail(TypedDict):
    agent_address: str
    now: datetime
    message_id: str


MAIL = Mail(agent_address="agent@example.com", now=AT, message_id="<out-1@example.com>")
EMAIL_PATHS: dict[str, Callable[[str], EmailMessage]] = {
    "email approval request": lambda t: compose_approval_request(
        approval(t), to=["alice@example.com"], reply_to="agent+tok@example.com", thread=thread(t), **MAIL
    ),
    "email question": lambda t: compose_question(
        question(t), to=["alice@example.com"], reply_to="agent+tok@example.com", thread=thread(t), **MAIL
    ),
    "email decision notice": lambda t: compose_decision_notice(
        decided(approval(t), "denied", t), to=["bob@example.com"], thread=thread(t), **MAIL
    ),
    "email reply": lambda t: compose_reply(to=["bob@example.com"], thread=thread(t), text=t, **MAIL),
}


# --- Slack ---------------------------------------------------------------------------------------


def slack_texts(message: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(`mrkdwn` or `plain_text`, text) for every text Slack shows; the fallback `text` is mrkdwn."""
    yield "mrkdwn", message["text"]

    def walk(node: Any) -> Iterator[tuple[str, str]]:
        if isinstance(node, dict):
            if node.get("type") in ("mrkdwn", "plain_text") and isinstance(node.get("text"), str):
                yield node["type"], node["text"]
            for value in node.values():
                yield from walk(value)
        elif isinstance(node, list):
            for item in node:
                yield from walk(item)

    yield from walk(message.get("blocks", []))


def control_sequences(message: dict[str, Any]) -> Counter[str]:
    return Counter(
        seq for kind, text in slack_texts(message) if kind == "mrkdwn" for seq in CONTROL_SEQUENCE.findall(text)
    )


def section_texts(message: dict[str, Any]) -> list[str]:
    return [
        block["text"]["text"] for block in message.get("blocks", []) if "text" in block and block["type"] == "section"
    ]


def is_arguments(section: str) -> bool:
    return section.startswith(("*Arguments*\n```", "```"))


def argument_values_shown(message: dict[str, Any]) -> list[str]:
    """What an approver reads as the value of `name`, entities and look-alike backticks undone."""
    values = []
    for text in filter(is_arguments, section_texts(message)):
        code = text.split("```")[1]
        values += [unescape(line).replace("\u02cb", "`") for line in code.split("\n")]
    return [line.removeprefix("name = ") for line in values]


def reads_back_as(shown: str, value: Any) -> bool:
    """Whether JSON shown to an approver, its `⟨…⟩` marks read as what they stand for, is `value`."""
    try:
        return bool(unmark_value(json.loads(shown)) == value)
    except ValueError:
        return False


def slack_problems(path: str, message: dict[str, Any], baseline: dict[str, Any], hostile: str) -> Counter[str]:
    found: Counter[str] = Counter()
    extra = control_sequences(message) - control_sequences(baseline)
    found["live mentions"] += sum(n for seq, n in extra.items() if seq[1] in "!@#")
    found["live links"] += sum(n for seq, n in extra.items() if seq[1] not in "!@#")
    for kind, text in slack_texts(message):
        found["invisible characters"] += sum(1 for ch in text if is_hidden(ch))
        if kind == "mrkdwn":
            found["unescaped &"] += re.sub(r"&(amp|lt|gt);", "", text).count("&")
    found["block kit errors"] += len(validate_blocks(message.get("blocks", [])))
    for block in message.get("blocks", []):
        for field in block.get("fields", []):  # "*Requested by*\n<who>": one line each
            found["lines outside their field"] += field["text"].count("\n") != 1
    for text in section_texts(message):
        if is_arguments(text):  # one code block, nothing after it
            found["broken code blocks"] += text.count("`") != 6 or not text.endswith("```")
        elif text.startswith(("*Why", "*Question*", "*Comment*")):  # untrusted text stays in its quote
            found["lines outside their quote"] += sum(1 for line in text.split("\n")[1:] if not line.startswith(">"))
    if path == "slack approval card":
        shown = argument_values_shown(message)  # one line, unless a value could break it
        exact = len(shown) == 1 and (shown[0].endswith("more characters)") or reads_back_as(shown[0], hostile))
        found["arguments not shown as they run"] += not exact
    return found


# --- email ---------------------------------------------------------------------------------------


def header_names(msg: EmailMessage) -> list[str]:
    return [name.lower() for name in msg.keys()]


def body_lines(msg: EmailMessage) -> list[str]:
    return str(msg.get_content()).replace("\r\n", "\n").split("\n")  # not splitlines: U+2028 is no line end here


def unindented(lines: list[str]) -> list[str]:
    """The lines that are ours, not the indented text they introduce (the hidden-characters note aside)."""
    return [line for line in lines if line and not line.startswith(" ") and not line.startswith(HIDDEN_NOTE)]


def arguments_block(lines: list[str]) -> str:
    """The indented JSON after "... wants to run X with:", dedented."""
    start = next(i for i, line in enumerate(lines) if line.endswith(" with:")) + 2
    end = lines.index("", start)
    return "\n".join(line.removeprefix("    ") for line in lines[start:end])


def email_problems(path: str, sent: EmailMessage, baseline: EmailMessage, hostile: str) -> Counter[str]:
    found: Counter[str] = Counter()
    wire = sent.as_bytes(policy=policy.SMTP)
    received = BytesParser(policy=policy.default).parsebytes(wire)
    assert isinstance(received, EmailMessage)
    names, expected = header_names(received), header_names(baseline)
    found["injected headers"] += sum((Counter(names) - Counter(expected)).values())
    found["headers changed"] += names != expected
    for value in received.values():
        found["CR/LF in headers"] += bool(re.search(r"[\r\n\u2028\u2029\x85]", str(value)))
        found["encoded words in headers"] += "=?" in str(value)
        found["invisible characters"] += sum(1 for ch in str(value) if is_hidden(ch))
    # (A long subject is folded right after "Subject:", so it reads back with a leading space.)
    found["subject changed on the wire"] += str(received["Subject"]).lstrip() != str(sent["Subject"])
    # Plain text only: no HTML part in which a tag or a link could come alive.
    found["html parts"] += sum(1 for part in received.walk() if part.get_content_type() != "text/plain")
    lines = body_lines(received)
    found["invisible characters"] += sum(1 for line in lines for ch in line if is_hidden(ch))
    if path != "email reply":  # a reply is the agent's text and nothing else
        found["lines outside their indented block"] += len(unindented(lines)) != len(unindented(body_lines(baseline)))
    if path == "email approval request":
        found["arguments not shown as they run"] += not reads_back_as(arguments_block(lines), {"name": hostile})
        marked = has_marks(hostile)
        found["hard-to-see characters not flagged"] += marked != any(line.startswith(HIDDEN_NOTE) for line in lines)
    return found


# --- the test ------------------------------------------------------------------------------------


def test_hostile_text_renders_inert_in_every_card_and_email() -> None:
    problems: dict[str, Counter[str]] = {}
    for entry, hostile in HOSTILE.items():
        for path, render_slack in SLACK_PATHS.items():
            problems[f"{entry} / {path}"] = slack_problems(path, render_slack(hostile), render_slack(HARMLESS), hostile)
        for path, compose in EMAIL_PATHS.items():
            problems[f"{entry} / {path}"] = email_problems(path, compose(hostile), compose(HARMLESS), hostile)

    failures = {where: +found for where, found in problems.items() if +found}
    assert failures == {}
    totals = sum(problems.values(), Counter())
    renders = len(HOSTILE) * (len(SLACK_PATHS) + len(EMAIL_PATHS))
    record(
        f"[hostile text rendered] strings={len(HOSTILE)} (corpus {len(CORPUS)} + {len(AIMED_AT_RENDERERS)} aimed at "
        f"renderers) paths={len(SLACK_PATHS)} slack + {len(EMAIL_PATHS)} email renders={renders} "
        f"live_mentions={totals['live mentions']} live_links={totals['live links']} "
        f"invisible_chars={totals['invisible characters']} injected_headers={totals['injected headers']} "
        f"html_parts={totals['html parts']}"
    )
