"""What the web inbox shows: escaped, with hard-to-see characters marked as the Slack card marks
them; redirects only to this server's paths; sign-in only for the people named to decide."""

from __future__ import annotations

from agent import APPROVERS, PARTICIPANTS, Agent
from bot.web.context import local_path
from bot.web.people import Viewer, may_answer, sign_in_addresses
from bot.web.render import argument_lines, environment, mail_link, slack_link, text


def test_arguments_are_escaped_and_every_mark_is_highlighted() -> None:
    [line] = argument_lines({"name": "pay\u202eyments<script>alert(1)</script>⟨x⟩"})
    assert str(line) == (
        'name = &#34;pay<mark class="hard">⟨U+202E⟩</mark>yments&lt;script&gt;alert(1)&lt;/script&gt;'
        '<mark class="hard">⟨U+27E8⟩</mark>x<mark class="hard">⟨U+27E9⟩</mark>&#34;'
    )


def test_free_text_is_escaped_and_keeps_its_lines() -> None:
    assert str(text('<img src=x onerror="a()">\n  two')) == "&lt;img src=x onerror=&#34;a()&#34;&gt;\n  two"


def test_templates_escape_by_default() -> None:
    rendered = environment().from_string("{{ value }}").render(value="<b>&")
    assert rendered == "&lt;b&gt;&amp;"


def test_redirects_stay_on_this_server() -> None:
    assert local_path("/threads/abc?x=1") == "/threads/abc?x=1"
    for bad in (
        "//evil.example/",
        "https://evil.example/",
        "/\\evil.example",
        "javascript:alert(1)",
        "",
        None,
        "/a\nb",
    ):
        assert local_path(bad) == "/"


def test_links_only_for_well_formed_references() -> None:
    assert slack_link("C1", "1700000000.000100") == "https://slack.com/archives/C1/p1700000000000100"
    assert slack_link("C1", "1700000000.000200", "1700000000.000100") == (
        "https://slack.com/archives/C1/p1700000000000200?thread_ts=1700000000.000100&cid=C1"
    )
    assert slack_link("C1/../x", "1.2") is None and slack_link("C1", "javascript:1") is None
    assert mail_link("<abc@example.com>") == "mid:abc@example.com"
    assert mail_link('<a"b@x>') == "mid:a%22b@x"


def test_who_may_sign_in_and_decide() -> None:
    agent = Agent(
        "ops", approvers=["Alice@Example.com", "U0ALICE"], answerers=[PARTICIPANTS, APPROVERS, "ops@example.com"]
    )

    @agent.tool(needs_approval=True, approvers=["carol@example.com"])
    def wire(amount: str) -> str:
        """Send money."""
        return amount

    assert sign_in_addresses(agent, ["dave@example.com", "S0GROUP"]) == {
        "alice@example.com",
        "carol@example.com",
        "dave@example.com",
        "ops@example.com",
    }
    alice = Viewer(by="alice@example.com", how="link", signin_id="s1")
    assert may_answer(["ALICE@example.com"], alice) and may_answer([], alice)
    assert not may_answer(["carol@example.com", "U0ALICE"], alice)
    assert not may_answer(["\u212aate@example.com"], Viewer(by="kate@example.com", how="link", signin_id="s2"))
