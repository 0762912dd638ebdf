"""The README's quickstart, in a real browser: `signoff serve` with only the first command's settings
(the bundled example agent, SIGNOFF_APPROVERS=alice@example.com, no mail server) and a model. Alice
signs in with the link `serve` prints, asks the agent on *Try the agent* to restart a service,
approves the request on the page, and sees the result: the whole loop without Slack or email."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.browser import chromium
from tests.support.fake_model import FakeModelServer, restart_when_asked
from tests.support.signoff_process import SignoffProcess, wait_until

ALICE = "alice@example.com"


@pytest.fixture
def first_command(model: FakeModelServer, tmp_path: Path) -> Iterator[SignoffProcess]:
    """`SIGNOFF_API_TOKEN=change-me SIGNOFF_APPROVERS=alice@example.com signoff serve`, plus a model."""
    process = SignoffProcess(
        {
            "SIGNOFF_DATABASE_URL": f"sqlite:///{tmp_path / 'signoff.db'}",
            **model.settings(),
            "SIGNOFF_APPROVERS": ALICE,
        },
        tmp_path,
    )
    process.start()
    yield process
    process.stop()


@pytest.fixture
def page(first_command: SignoffProcess) -> Iterator[Any]:
    for browser in chromium():
        context = browser.new_context()
        context.set_default_timeout(60_000)  # a shared 2-core machine under load
        yield context.new_page()
        context.close()


def test_from_the_first_command_to_an_approved_restart_in_the_browser(
    first_command: SignoffProcess, model: FakeModelServer, page: Any
) -> None:
    model.default = restart_when_asked
    page.goto(f"{first_command.url}/")
    page.get_by_label("Your email address").fill(ALICE)
    page.get_by_role("button", name="Mail me a sign-in link").click()
    assert "a sign-in link is on its way" in page.locator("main").inner_text()
    printed = wait_until(
        lambda: re.search(r"http://\S+/signin/link\?token=\S+", first_command.logs()), message="the printed link"
    )
    page.goto(printed.group(0))
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{first_command.url}/")

    page.get_by_role("link", name="Try the agent").click()
    page.get_by_label(re.compile("^Ask ")).fill("please restart payments")
    page.get_by_role("button", name="Start a thread").click()
    page.wait_for_url(re.compile(r"/threads/[0-9a-f]+$"))
    approve = page.get_by_role("button", name="Approve")
    approve.wait_for(timeout=40_000)
    approve.click()
    page.wait_for_load_state()
    refused = page.locator(".notice.refused")
    assert refused.count() == 0, refused.inner_text()  # alice asked, and alice may approve it
    page.get_by_text("Done.").wait_for(timeout=40_000)

    thread_id = page.url.rsplit("/", 1)[1]
    with first_command.client() as api:
        events = api.get(f"/api/threads/{thread_id}").json()["events"]
    [decided] = [e for e in events if e["type"] == "approval_decided"]
    assert decided["approved"] and decided["by"] == ALICE
    [result] = [e for e in events if e["type"] == "tool_result"]
    assert "payments" in str(result["result"])
    assert "approved" in page.locator("ol.timeline").inner_text().lower()
