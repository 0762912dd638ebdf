"""Deny by reply: the reason (and only the reason, not the quoted request) reaches the model, and
the agent adapts. ask_human by email: each person who may answer gets the question with their own
reply address; the first line of the reply, above Outlook's or Gmail's quoted history, is the answer."""

from __future__ import annotations

import json

import pytest

from tests.support.email_signoff import (
    ALICE,
    BOB,
    MALLORY,
    EmailSignoff,
    MakeEmailBot,
    body_of,
    mail,
    reply,
    sent_to,
    to_of,
)
from tests.support.fake_model import FakeModelServer, text, tool_call


@pytest.fixture
def bot(make_email_bot: MakeEmailBot) -> EmailSignoff:
    # Carol, Cc'd on a question below, is in the conversation only because Cc'd addresses join here.
    return make_email_bot(SIGNOFF_EMAIL_CC_JOINS="true")


def test_a_denial_by_reply_carries_its_reason_to_the_model_without_the_quoted_request(
    bot: EmailSignoff, model: FakeModelServer
) -> None:
    model.script(
        tool_call("deploy", {"service": "web", "version": "4.0.0", "reason": "new release"}),
        text("Understood: I will not deploy web 4.0.0 before Monday."),
    )
    bot.send(mail(BOB, "deploy web 4.0.0", "Please deploy web 4.0.0 today."))
    [ask] = bot.wait_sent(1, sent_to(ALICE))
    assert '"version": "4.0.0"' in body_of(ask)

    bot.send(reply(ask.message, ALICE, "deny code freeze until Monday\n\nAlice"))

    thread = bot.only_thread()
    done = bot.wait_status(thread["id"], "done")
    decided = next(e for e in done["events"] if e["type"] == "approval_decided")
    assert decided["approved"] is False and decided["by"] == ALICE
    assert decided["comment"].startswith("code freeze until Monday")
    assert "wrote:" not in decided["comment"] and "Approval needed" not in decided["comment"]
    assert not any(e["type"] == "tool_result" for e in done["events"])  # deploy never ran
    last_request = json.dumps(model.requests[-1]["messages"])
    assert "code freeze until Monday" in last_request
    assert "deny <reason>" not in last_request  # the quoted request did not leak into the context

    final = bot.wait_sent(1, lambda m: "before Monday" in body_of(m))[0]
    assert to_of(final) == [BOB] and final.message["Subject"] == "Re: deploy web 4.0.0"
    outcome = bot.wait_sent(1, lambda m: "Denied by" in body_of(m))[0]
    assert "code freeze until Monday" in body_of(outcome)


@pytest.mark.parametrize("style", ["outlook", "gmail"])
def test_a_question_is_answered_by_the_first_lines_of_a_reply(
    bot: EmailSignoff, model: FakeModelServer, style: str
) -> None:
    model.script(
        tool_call("ask_human", {"question": "Which service do you mean?", "options": ["payments", "search"]}),
        text("payments is running version 1.0.0."),
    )
    bot.send(mail(BOB, "version?", "What version is the service on?", cc=["carol@corp.example"]))

    # The participants (Bob wrote) and the approver (Alice) may answer; each gets the question with
    # their own reply address. Carol, only Cc'd, is told what was asked, without a reply address.
    asked = bot.wait_sent(2, lambda m: "Which service do you mean?" in body_of(m) and "I asked" not in body_of(m))
    assert sorted(to for m in asked for to in to_of(m)) == [ALICE, BOB]
    reply_tos = {str(m.message["Reply-To"]) for m in asked}
    assert len(reply_tos) == 2
    question = next(m for m in asked if to_of(m) == [BOB])
    assert "payments" in body_of(question) and "search" in body_of(question)
    [told] = bot.wait_sent(1, lambda m: "I asked" in body_of(m))
    assert to_of(told) == ["carol@corp.example"] and "Which service do you mean?" in body_of(told)
    assert told.message["Reply-To"] is None

    bot.send(reply(question.message, BOB, "payments", style=style))  # type: ignore[arg-type]

    thread = bot.only_thread()
    done = bot.wait_status(thread["id"], "done")
    answered = next(e for e in done["events"] if e["type"] == "question_answered")
    assert (answered["answer"], answered["by"]) == ("payments", BOB)
    assert [e["type"] for e in done["events"]].count("human_message") == 1
    final = bot.wait_sent(1, lambda m: body_of(m).strip() == "payments is running version 1.0.0.")[0]
    assert sorted(to_of(final)) == [BOB, "carol@corp.example"]


def test_a_reply_without_a_decision_gets_a_hint_and_answering_the_hint_decides(
    bot: EmailSignoff, model: FakeModelServer
) -> None:
    model.script(tool_call("restart_service", {"name": "search", "reason": "slow"}), text("Restarted search."))
    bot.send(mail(BOB, "search", "restart search"))
    [ask] = bot.wait_sent(1, sent_to(ALICE))

    bot.send(reply(ask.message, ALICE, "yes, go ahead"))  # "yes" is not a decision: too easy to misread
    [hint] = bot.wait_sent(1, lambda m: "could not read a decision" in body_of(m))
    assert hint.rcpt_tos == [ALICE] and hint.message["In-Reply-To"] is not None
    assert str(hint.message["Reply-To"]) == str(ask.message["Reply-To"])  # the same way back
    [request] = bot.pending()

    bot.send(reply(hint.message, ALICE, "approve"))
    done = bot.wait_status(request["thread_id"], "done")
    decided = next(e for e in done["events"] if e["type"] == "approval_decided")
    assert (decided["approved"], decided["by"]) == (True, ALICE)


def test_a_stranger_who_cites_the_thread_does_not_answer_and_does_not_join_it(
    bot: EmailSignoff, model: FakeModelServer
) -> None:
    """Issues 10.5 and 22.3: a question is for the participants and the approvers, and a thread for
    its participants. Mallory, who learnt a Message-ID of the thread, writes into it: her mail
    answers nothing and joins nothing; it starts a thread of her own, answered to her alone. An
    auto-reply from her is never answered. Bob's reply to his question answers it."""
    model.script(
        tool_call("ask_human", {"question": "Restart payments or search?", "options": ["payments", "search"]}),
        text("Hello, how can I help?"),
        text("Restarting search is on its way."),
    )
    bot.send(mail(BOB, "slow", "Something is slow, fix it."))
    asked = bot.wait_sent(2, lambda m: "Restart payments or search?" in body_of(m))
    question = next(m for m in asked if to_of(m) == [BOB])
    [request] = bot.pending()
    assert request["allowed"] == [BOB, ALICE]

    refs = [*str(question.message.get("References", "")).split(), str(question.message["Message-ID"])]
    bot.send(mail(MALLORY, "Re: slow", "payments", in_reply_to=refs[-1], references=refs))
    [own] = bot.wait_sent(1, sent_to(MALLORY))
    assert to_of(own) == [MALLORY] and body_of(own).strip() == "Hello, how can I help?"
    assert str(own.message["References"]).split()[0] not in refs  # her own thread, not Bob's
    assert "Restart payments or search?" not in body_of(own) and own.message["Reply-To"] is None
    auto = mail(
        MALLORY, "Automatic reply: slow", "I am out", references=refs, headers={"Auto-Submitted": "auto-replied"}
    )
    bot.send(auto)
    bot.log_has("automated mail")
    assert bot.pending() == [request]
    theirs = bot.thread(request["thread_id"])
    assert [e["by"] for e in theirs["events"] if e["type"] == "human_message"] == [BOB]

    bot.send(reply(question.message, BOB, "search"))
    done = bot.wait_status(request["thread_id"], "done")
    answered = [e for e in done["events"] if e["type"] == "question_answered"]
    assert [(e["answer"], e["by"]) for e in answered] == [("search", BOB)]
    # Bob's thread's reply goes to Bob alone; Mallory got her own answer and nothing else.
    assert bot.sent(sent_to(MALLORY)) == [own]
