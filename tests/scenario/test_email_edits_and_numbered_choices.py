"""Edit before approving and questions with choices by email, through Dovecot and aiosmtpd: the
request says how to edit; `name: value` lines under `approve` that do not fit are refused by mail
and decide nothing; good ones approve, and exactly the edited call runs. A question's options are
numbered; with free text not allowed another answer is refused by mail, and replying `2` answers
with the second option, recorded as the choice."""

from __future__ import annotations

from tests.support.edit_agent import EDIT_AGENT
from tests.support.email_signoff import ALICE, BOB, MakeEmailBot, body_of, mail, reply, sent_to
from tests.support.fake_model import FakeModelServer, text, tool_call


def test_approve_with_edited_arguments_by_reply(make_email_bot: MakeEmailBot, model: FakeModelServer) -> None:
    bot = make_email_bot(**EDIT_AGENT)
    model.script(tool_call("scale", {"service": "web", "replicas": 2, "reason": "traffic"}), text("Scaled."))
    bot.send(mail(BOB, "scale web", "Please scale web."))
    [ask] = bot.wait_sent(1, sent_to(ALICE))
    assert "name: value" in body_of(ask) and "service, replicas, dry_run" in body_of(ask)

    bot.send(reply(ask.message, ALICE, "approve\nreplicas: many\n"))
    [refused] = bot.wait_sent(1, lambda m: "decided nothing" in body_of(m))
    assert refused.rcpt_tos == [ALICE] and "replicas" in body_of(refused) and "whole number" in body_of(refused)
    [request] = bot.pending()

    bot.send(reply(ask.message, ALICE, "approve\nreplicas: 6\nservice: search\n\nfine for today"))
    done = bot.wait_status(request["thread_id"], "done")
    [result] = [e["result"] for e in done["events"] if e["type"] == "tool_result"]
    assert result.startswith("scaled search to 6 (dry_run=False")
    [edited] = [e for e in done["events"] if e["type"] == "approval_edited"]
    assert edited["previous_arguments"]["replicas"] == 2 and edited["identity"]["channel"] == "email"
    [decided] = [e for e in done["events"] if e["type"] == "approval_decided"]
    assert decided["comment"] == "fine for today" and decided["digest"] == edited["digest"]


def test_a_numbered_choice_answers_a_question(make_email_bot: MakeEmailBot, model: FakeModelServer) -> None:
    bot = make_email_bot(**EDIT_AGENT)
    model.script(
        tool_call("ask_human", {"question": "Which region?", "options": ["eu", "us"], "allow_free_text": False}),
        text("Going to us."),
    )
    bot.send(mail(BOB, "region", "Pick a region for the new service."))
    [question] = bot.wait_sent(1, lambda m: "Which region?" in body_of(m) and BOB in m.rcpt_tos)
    assert "1) eu" in body_of(question) and "2) us" in body_of(question)
    assert "other answers are not taken" in body_of(question)

    bot.send(reply(question.message, BOB, "asia please"))
    [refused] = bot.wait_sent(1, lambda m: "decided nothing" in body_of(m))
    assert "1) eu  2) us" in body_of(refused)
    [request] = bot.pending()

    bot.send(reply(question.message, BOB, "2"))
    done = bot.wait_status(request["thread_id"], "done")
    [answered] = [e for e in done["events"] if e["type"] == "question_answered"]
    assert (answered["answer"], answered["choice"], answered["by"]) == ("us", "us", BOB)
