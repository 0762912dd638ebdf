"""An approver list that names a Slack user group lets its members decide on every surface, not
only by clicking in Slack: the directory says which Slack ids are a person's, and the group's
members are looked up in Slack (the fake Web API's `usergroups.users.list`). Carol, a member of
S0SRE, finds the request waiting on her in the web inbox and approves with her personal token over
the API; bob, who is not, is refused (403), nothing is decided, and his inbox does not list it. At the console, `signoff approve --by carol@example.com` counts as carol too. A real
`signoff serve` in Slack mode, the requests asked in Slack."""

from __future__ import annotations

from pathlib import Path

from tests.scenario.test_cli_as_an_operator_uses_it import signoff_cli
from tests.scenario.test_web_inbox_shows_n_of_m_progress import signed_in
from tests.support.fake_model import FakeModelServer, text, tool_call
from tests.support.fake_slack import FakeSlack
from tests.support.people import directory
from tests.support.signoff_process import wait_until
from tests.support.slack_requests import app_mention
from tests.support.slack_signoff import MALLORY, MakeSlackBot, button_value, wait_for_card


def test_a_group_member_approves_with_her_token(
    make_slack_bot: MakeSlackBot, fake: FakeSlack, model: FakeModelServer, tmp_path: Path
) -> None:
    people = directory(f"sqlite:///{tmp_path / 'signoff.db'}")
    fake.usergroups["S0SRE"] = ["U0CAROL", "U0DAVE"]
    bot = make_slack_bot(approvers="S0SRE")
    model.script(tool_call("restart_service", {"name": "web", "reason": "slow"}), text("Restarted web."))
    assert bot.event(app_mention("<@UBOT> restart web", user=MALLORY)).status_code == 200
    [(card_at, card)] = wait_for_card(fake)
    request_id = button_value(card)
    decision = f"/api/requests/{request_id}/decision"

    with bot.process.client(people.tokens["bob"]) as bob, bot.process.client(people.tokens["carol"]) as carol:
        refused = bob.post(decision, json={"decision": "approve"})
        assert refused.status_code == 403, refused.text
        assert bot.request(request_id)["status"] == "pending"
        # In the web inbox the request waits on carol, with its form, and not on bob.
        carol_web, bob_web = (
            signed_in(bot.process, people.tokens["carol"]),
            signed_in(bot.process, people.tokens["bob"]),
        )
        assert f'action="/requests/{request_id}/decide"' in carol_web.get("/").text
        assert request_id not in bob_web.get("/").text
        carol_web.close()
        bob_web.close()

        approved = carol.post(decision, json={"decision": "approve"})
        assert approved.status_code == 200, approved.text
    thread = bot.wait_status(bot.request(request_id)["thread_id"], "done")
    [decided] = [e for e in thread["events"] if e["type"] == "approval_decided"]
    assert (decided["by"], decided["identity"]["person"], decided["identity"]["method"]) == (
        "carol",
        "carol",
        "personal_token",
    )
    assert [e["result"] for e in thread["events"] if e["type"] == "tool_result"]
    wait_until(lambda: "Approved" in str(fake.messages[card_at]["blocks"]), message="the card shows it")


def test_a_group_member_approves_at_the_console(
    make_slack_bot: MakeSlackBot, fake: FakeSlack, model: FakeModelServer, tmp_path: Path
) -> None:
    directory(f"sqlite:///{tmp_path / 'signoff.db'}")
    fake.usergroups["S0SRE"] = ["U0CAROL"]
    bot = make_slack_bot(approvers="S0SRE")
    model.script(tool_call("restart_service", {"name": "web", "reason": "slow"}), text("Restarted web."))
    assert bot.event(app_mention("<@UBOT> restart web", user=MALLORY)).status_code == 200
    [(_, card)] = wait_for_card(fake)
    request_id = button_value(card)
    env = {
        k: bot.process.env[k] for k in ("SIGNOFF_DATABASE_URL", "SIGNOFF_APPROVERS", "SLACK_BOT_TOKEN", "SLACK_API_URL")
    }

    refused = signoff_cli("approve", request_id, "--by", "bob@corp.example", env=env, cwd=tmp_path)
    assert refused.returncode == 1 and "may not" in refused.stderr
    approved = signoff_cli("approve", request_id, "--by", "carol@example.com", env=env, cwd=tmp_path)
    assert approved.returncode == 0, approved.stderr
    thread = bot.wait_status(bot.request(request_id)["thread_id"], "done")
    [decided] = [e for e in thread["events"] if e["type"] == "approval_decided"]
    assert (decided["identity"]["person"], decided["identity"]["method"]) == ("carol", "console")
