"""One deployment, two agents (SIGNOFF_CONFIG): the API's `agent` field, a keyword, a Slack channel
and a plus-alias each pick the agent; anything else goes to the default; a thread keeps its agent
whatever its later messages say; what the bot posts names the agent that speaks. Real `signoff
serve` processes, the fake Slack Web API, Dovecot and aiosmtpd."""

from __future__ import annotations

from pathlib import Path

from tests.support.deployments import deployment_env, tools_seen
from tests.support.email_signoff import AGENT, BOB, MakeEmailBot, body_of, mail
from tests.support.fake_model import FakeModelServer, text
from tests.support.fake_slack import FakeSlack
from tests.support.signoff_process import SignoffProcess, wait_until
from tests.support.slack_requests import app_mention, message_event, slash_command
from tests.support.slack_signoff import MakeSlackBot, posted

BILLING_TOOLS = {"invoice_status", "refund", "ask_human"}


def test_the_api_picks_by_field_keyword_or_default(tmp_path: Path, model: FakeModelServer) -> None:
    model.default = lambda _body: text("Done.")
    server = SignoffProcess(
        {
            "SIGNOFF_DATABASE_URL": f"sqlite:///{tmp_path / 'signoff.db'}",
            "SIGNOFF_APPROVERS": "alice@example.com",
            **model.settings(),
            **deployment_env(tmp_path),
        },
        tmp_path,
    ).start()
    api = server.client()
    try:
        launched = {
            message: api.post("/api/threads", json={"message": message, **extra})
            for message, extra in (
                ("is invoice 7 paid?", {"agent": "billing"}),
                ("billing: is invoice 8 paid?", {}),
                ("restart the payments worker", {}),
                ("ops: billing is down", {}),
            )
        }
        agents = {message: response.json()["agent"] for message, response in launched.items()}
        assert agents == {
            "is invoice 7 paid?": "billing",
            "billing: is invoice 8 paid?": "billing",
            "restart the payments worker": "ops",
            "ops: billing is down": "ops",
        }
        for response in launched.values():
            thread_id = response.json()["id"]
            wait_until(lambda tid=thread_id: api.get(f"/api/threads/{tid}").json()["status"] == "done")
        seen = [tools_seen(r) for r in model.requests]
        assert sum(1 for tools in seen if tools == BILLING_TOOLS) == 2
        assert sum(1 for tools in seen if "restart_service" in tools) == 2

        unknown = api.post("/api/threads", json={"message": "hello", "agent": "ghost"})
        assert unknown.status_code == 404 and "ops, billing" in unknown.json()["detail"]
        assert len(api.get("/api/threads").json()["threads"]) == 4
    finally:
        server.stop()


def test_a_slack_channel_routes_and_the_thread_keeps_its_agent(
    make_slack_bot: MakeSlackBot, fake: FakeSlack, model: FakeModelServer, tmp_path: Path
) -> None:
    model.script(text("Invoice 7 is paid."), text("Still billing here."))
    bot = make_slack_bot(**deployment_env(tmp_path))
    mention = app_mention("<@UBOT> is invoice 7 paid?", user="U0BOB", channel="C0BILL")
    assert bot.event(mention).status_code == 200
    thread = bot.only_thread()
    assert thread["agent"] == "billing"
    [(_, reply)] = wait_until(lambda: posted(fake, lambda m: "Invoice 7" in m.get("text", "")))
    assert reply["text"].startswith("*billing*: ")

    # A later message in the thread names the other agent's keyword: the thread stays billing's.
    later = message_event("ops restart payments", user="U0BOB", channel="C0BILL", thread_ts=mention["ts"])
    assert bot.event(later).status_code == 200
    wait_until(lambda: posted(fake, lambda m: "Still billing" in m.get("text", "")))
    assert [t["agent"] for t in bot.threads()] == ["billing"]
    assert all(tools_seen(r) == BILLING_TOOLS for r in model.requests)


def test_an_agents_own_slash_command_asks_that_agent_in_any_channel(
    make_slack_bot: MakeSlackBot, fake: FakeSlack, model: FakeModelServer, tmp_path: Path
) -> None:
    model.default = lambda body: text("Invoice 7 is paid." if "refund" in tools_seen(body) else "Services are fine.")
    bot = make_slack_bot(**deployment_env(tmp_path))
    usage = bot.command(slash_command("", user="U0BOB", channel="C0GENERAL", command="/billing"))
    assert usage.status_code == 200 and "/billing <question>" in usage.json()["text"]

    fields = slash_command("is invoice 7 paid?", user="U0BOB", channel="C0GENERAL", command="/billing")
    assert bot.command(fields).status_code == 200
    assert bot.command(fields).status_code == 200  # delivered again: still one thread
    [((root_channel, root_ts), root)] = wait_until(
        lambda: posted(fake, lambda m: "asked /billing" in m.get("text", ""))
    )
    assert root_channel == "C0GENERAL" and "<@U0BOB>" in root["text"]
    [(_, reply)] = wait_until(lambda: posted(fake, lambda m: "Invoice 7" in m.get("text", "")))
    assert reply["thread_ts"] == root_ts and reply["text"].startswith("*billing*: ")
    [thread] = bot.threads()
    assert thread["agent"] == "billing"
    assert bot.thread(thread["id"])["events"][0]["text"] == "is invoice 7 paid?"

    # The bot's own command still asks whoever the text routes to: here the default agent.
    assert bot.command(slash_command("ask how are the services?", user="U0BOB", channel="C0GENERAL")).status_code == 200
    wait_until(lambda: posted(fake, lambda m: "Services are fine" in m.get("text", "")))
    assert sorted(t["agent"] for t in bot.threads()) == ["billing", "ops"]


def test_a_plus_alias_routes_mail_and_the_reply_names_the_agent(
    make_email_bot: MakeEmailBot, model: FakeModelServer, tmp_path: Path
) -> None:
    bot = make_email_bot(
        lambda body: text("Invoice 9 is paid." if "refund" in tools_seen(body) else "The services are fine."),
        **deployment_env(tmp_path),
    )
    local, _, domain = AGENT.partition("@")
    bot.send(mail(BOB, "invoice 9", "Is invoice 9 paid?", to=f"{local}+money@{domain}"))
    bot.send(mail(BOB, "services", "How are the services?"))
    wait_until(lambda: len(bot.threads()) == 2 and all(t["status"] == "done" for t in bot.threads()))
    assert sorted(t["agent"] for t in bot.threads()) == ["billing", "ops"]
    [answer] = bot.wait_sent(1, lambda m: "Invoice 9" in body_of(m))
    assert str(answer.message["From"]).startswith("billing via ")
