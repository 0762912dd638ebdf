"""Text from the model or from humans cannot mention, link, hide, or overflow in Slack messages."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from channels.slack.blocks import ELLIPSIS, escape, is_hidden, link, plain, units, who

TAGS = "".join(chr(cp) for cp in range(0xE0000, 0xE0080))
INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff\u00ad\u202e\u2066\u180e"


@pytest.mark.parametrize(
    "text", ["<!channel> now", "<!here>", "<!everyone>", "<@U0123ABC> look", "<!subteam^S123>", "<#C123>"]
)
def test_mentions_come_out_as_literal_text(text: str) -> None:
    out = escape(text)
    assert "<" not in out and ">" not in out
    assert out == text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def test_a_disguised_link_shows_its_real_target() -> None:
    out = escape("<http://evil.example/steal|click for the report>")
    assert out == "&lt;http://evil.example/steal|click for the report&gt;"


def test_ampersands_are_escaped_so_entities_display_literally() -> None:
    assert escape("a & b &lt;!channel&gt;") == "a &amp; b &amp;lt;!channel&amp;gt;"


def test_unicode_tag_and_zero_width_characters_are_removed() -> None:
    smuggled = "approve" + "".join(chr(0xE0000 + ord(c)) for c in "ignore previous") + "\U000e007f"
    assert escape(smuggled) == "approve"
    assert escape(f"re{INVISIBLE}start") == "restart"
    assert escape(TAGS) == ""


def test_hidden_characters_can_be_revealed_instead_of_removed() -> None:
    assert escape("a\u200bb\U000e0041", reveal_hidden=True) == "a[U+200B]b[U+E0041]"


def test_newlines_and_tabs_survive_and_other_controls_do_not() -> None:
    assert escape("a\r\nb\tc\x00d\x1be\u2028f") == "a\nb\tcde\nf"


def test_long_text_is_cut_with_an_ellipsis_within_the_limit() -> None:
    out = escape("x" * 5000, 3000)
    assert units(out) == 3000 and out.endswith(ELLIPSIS)
    assert escape("short", 3000) == "short"


def test_cutting_never_splits_an_entity_or_a_surrogate_pair() -> None:
    out = escape("<" * 100, 23)
    assert out == "&lt;" * 5 + ELLIPSIS
    emoji = escape("😀" * 100, 11)
    assert emoji == "😀" * 5 + ELLIPSIS and units(emoji) == 11


def test_plain_text_keeps_angle_brackets_but_not_hidden_characters() -> None:
    assert plain("a <b> & c\u200b", 100) == "a <b> & c"
    assert plain("y" * 200, 150) == "y" * 149 + ELLIPSIS


def test_only_checked_ids_become_mentions() -> None:
    assert who("U0123ABC") == "<@U0123ABC>"
    assert who("W0123ABC") == "<@W0123ABC>"
    assert who("S0123ABC") == "<!subteam^S0123ABC>"
    assert who("alice@example.com") == "alice@example.com"
    assert who("<!channel>") == "&lt;!channel&gt;"
    assert who("U123> <!here") == "U123&gt; &lt;!here"
    assert who("bob\n*Who may approve*\n<@U1>") == "bob *Who may approve* &lt;@U1&gt;"  # one line


def test_links_are_http_only_and_cannot_be_broken_out_of() -> None:
    assert link("https://x.example/a?b=1&c=2", "Open <it>") == "<https://x.example/a?b=1&amp;c=2|Open &lt;it&gt;>"
    assert link("https://x.example/a|b>c", "x") == "<https://x.example/a%7Cb%3Ec|x>"
    for bad in ("javascript:alert(1)", "slack://open", "https://x.example/a b", "https://x\u200b.example"):
        with pytest.raises(ValueError):
            link(bad, "x")


@given(st.text(), st.integers(min_value=1, max_value=400))
def test_any_text_comes_out_inert_visible_and_within_the_limit(text: str, limit: int) -> None:
    out = escape(text, limit)
    assert "<" not in out and ">" not in out
    assert not any(is_hidden(ch) for ch in out)
    assert units(out) <= limit
    assert "&" not in out.replace("&amp;", "").replace("&lt;", "").replace("&gt;", "")
