"""One definition of a hidden character, on every way in and out (issue 10.6).

Each code point of the corpus is put in the middle of a word and sent down every path: an email's
body and subject (parse), a Slack message (inbound), the core's gate for API and CLI text, and the
renderers (Slack mrkdwn and plain text, an email body, a tool's arguments). In free text every path
leaves the same thing, the word without it; in arguments every path shows it as `[U+XXXX]`. Emoji
keep the selectors and joiners that draw them, on every path alike.
"""

from __future__ import annotations

import base64
import json
import re
from datetime import timedelta
from email.message import EmailMessage

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from channels.email.compose import ThreadRefs, compose_reply, format_arguments
from channels.email.parse import parse_email
from channels.invisible import clean_inbound, has_hidden, is_hidden, reveal_hidden, strip_hidden
from channels.marks import CLOSE, OPEN
from channels.slack import blocks
from channels.slack.inbound import from_human
from tests.support.request_views import approval_view

HIDDEN = {
    "hangul filler": [0x3164, 0x115F, 0x1160, 0xFFA0],
    "variation selector": [*range(0xFE00, 0xFE10), 0xE0100, 0xE0150, 0xE01EF],
    "tag": [0xE0000, 0xE0001, 0xE0020, 0xE0041, 0xE0061, 0xE007E, 0xE007F],
    "bidi control": [0x200E, 0x200F, 0x061C, *range(0x202A, 0x202F), *range(0x2066, 0x206A)],
    "zero width": [0x200B, 0x200C, 0x200D, 0x2060, 0xFEFF, 0x180E],
    "soft hyphen and joiners": [0x00AD, 0x034F, 0x17B4, 0x17B5, 0x180B],
    "invisible operator": [0x2061, 0x2062, 0x2063, 0x2064],
    "control": [0x0000, 0x0007, 0x001B, 0x007F, 0x0085, 0x009B],
    "private use": [0xE000, 0xF8FF, 0xF0000],
    "other default-ignorable": [0xFFF0, 0x1D173, 0x1BCA0],
}
CORPUS = [(kind, cp) for kind, cps in HIDDEN.items() for cp in cps]
WORD = "pay{}ments"

# Emoji drawn with a selector or a joiner: kept whole everywhere.
EMOJI = ["❤️", "☺️", "1️⃣", "#️⃣", "👩‍💻", "👩🏽‍💻", "🏳️‍🌈", "❤️‍🔥", "👨‍👩‍👧", "🧑‍🤝‍🧑", "☎︎"]
# Selectors and joiners where no emoji draws them: hidden like any other.
NOT_EMOJI = {
    "a\ufe0fb": "ab",
    "1\ufe0f": "1",  # no keycap follows
    "a\u200db": "ab",
    "😀\u200d": "😀",  # a joiner with nothing to join
    "😀\ufe0f\ufe0f": "😀\ufe0f",  # one selector per emoji
    "😀\u200d\u200d😀": "😀😀",
    "1\ufe0f\u200d\U0001f469": "1\U0001f469",  # a selector that is not kept keeps no joiner either
    "\U0001f3f4\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f": "\U0001f3f4",  # tags always go
}


def email_paths(text: str) -> dict[str, str]:
    msg = EmailMessage()
    msg["From"] = "bob@corp.example"
    msg["To"] = "agent@example.test"
    # As mail clients send non-ASCII subjects: an encoded word (which may hold any character).
    msg["Subject"] = f"=?utf-8?b?{base64.b64encode(f'about {text}'.encode('utf-8', 'surrogatepass')).decode()}?="
    msg["Message-ID"] = "<1@corp.example>"
    msg.set_content(f"please restart {text} today\n")
    mail = parse_email(msg.as_bytes())
    return {
        "email body": mail.text.removeprefix("please restart ").removesuffix(" today"),
        "email subject": mail.subject.removeprefix("about "),
    }


def slack_path(text: str) -> str:
    event = {"type": "message", "user": "U0BOB", "text": f"<@UBOT> {text}", "channel": "C1", "ts": "1.2"}
    message = from_human({"team_id": "T1"}, event, "UBOT")
    assert message is not None
    return message.text


def renderer_paths(text: str) -> dict[str, str]:
    mail = compose_reply(
        agent_address="agent@example.test",
        to=["bob@corp.example"],
        thread=ThreadRefs.answering("<1@corp.example>", [], "x"),
        text=text,
        agent_name="ops",
        message_id="<out@example.test>",
    )
    return {
        "slack mrkdwn": blocks.escape(text),
        "slack plain text": blocks.plain(text),
        "email body out": str(mail.get_content()).rstrip("\n"),
    }


def every_path(text: str) -> dict[str, str]:
    return {
        **email_paths(text),
        "slack in": slack_path(text),
        "api and cli (core gate)": clean_inbound(text),
        **renderer_paths(text),
    }


@pytest.mark.parametrize(("kind", "cp"), CORPUS, ids=[f"{kind}-U+{cp:04X}" for kind, cp in CORPUS])
def test_a_hidden_character_is_removed_alike_on_every_way_in_and_out(kind: str, cp: int) -> None:
    text = WORD.format(chr(cp))
    assert is_hidden(chr(cp)) and has_hidden(text)
    assert every_path(text) == dict.fromkeys(every_path("payments"), "payments")


@pytest.mark.parametrize(("kind", "cp"), CORPUS, ids=[f"{kind}-U+{cp:04X}" for kind, cp in CORPUS])
def test_a_hidden_character_in_arguments_is_shown_on_every_surface(kind: str, cp: int) -> None:
    text = WORD.format(chr(cp))
    assert reveal_hidden(text) == f"pay[U+{cp:04X}]ments"  # free text
    # In a tool's arguments every surface marks it the same way (channels.marks, issue 22.2).
    marker = f"{OPEN}U+{cp:04X}{CLOSE}"
    card = blocks.approval_card(_approval(text), None)
    card_text = "\n".join(b["text"]["text"] for b in card["blocks"] if b.get("type") == "section" and "text" in b)
    for shown in (format_arguments({"name": text}), card_text):  # email, slack
        assert marker in shown, shown
    assert "hard to see" in json.dumps(card, ensure_ascii=False)


@pytest.mark.parametrize("emoji", EMOJI)
def test_an_emoji_keeps_its_selectors_and_joiners_on_every_path(emoji: str) -> None:
    assert not has_hidden(emoji)
    assert every_path(emoji) == dict.fromkeys(every_path("payments"), emoji)
    assert reveal_hidden(emoji) == emoji and "[U+" not in format_arguments({"name": emoji})


@pytest.mark.parametrize(("text", "seen"), NOT_EMOJI.items(), ids=[ascii(t) for t in NOT_EMOJI])
def test_a_selector_or_joiner_outside_an_emoji_is_hidden_on_every_path(text: str, seen: str) -> None:
    assert every_path(text) == dict.fromkeys(every_path("payments"), seen)
    assert "[U+" in reveal_hidden(text)


def test_newlines_and_tabs_are_not_hidden() -> None:
    assert not has_hidden("a\tb\nc") and clean_inbound("a\r\nb\rc\td") == "a\nb\nc\td"
    assert strip_hidden("a\tb\nc") == "a\tb\nc"


def _approval(value: str):  # type: ignore[no-untyped-def]
    return approval_view(thread_id="thread-1", arguments={"name": value})


# Text made of the characters the rules look at, so that hypothesis finds their corner cases.
_PARTS = st.sampled_from(["a", "1", "#", "\u2764", "\U0001f469", "\U0001f3fd", "\U0001f4bb", "\u20e3"])
_HIDDEN_PARTS = st.sampled_from(["\ufe0f", "\ufe0e", "\u200d", "\u200b", "\U000e0041", "\u3164", "\u202e"])


@settings(max_examples=400, deadline=timedelta(seconds=1))  # a slow input is a finding too
@example("1\ufe0f\u200d\U0001f469")
@given(st.lists(st.one_of(_PARTS, _HIDDEN_PARTS, st.characters()), max_size=40).map("".join))
def test_removing_is_done_in_one_pass_and_leaves_nothing_hidden(text: str) -> None:
    # Channels and the core both clean what comes in: a second pass must change nothing.
    once = strip_hidden(text)
    assert strip_hidden(once) == once and not has_hidden(once)
    assert clean_inbound(clean_inbound(text)) == clean_inbound(text)
    # Revealing marks exactly what removing drops.
    assert strip_hidden(reveal_hidden(text)) == reveal_hidden(text)
    assert re.sub(r"\[U\+[0-9A-F]{4,6}\]", "", reveal_hidden(text)) == once or "[U+" in text
