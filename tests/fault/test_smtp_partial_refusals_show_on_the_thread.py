"""Case 5, partly delivered: the SMTP server takes a message for some recipients and refuses others.

One `signoff serve` (email over real Dovecot and aiosmtpd); heidi's address is refused at RCPT TO
(`550 5.1.1 no such user`) every time. Two threads reach her among others:
- Olivia writes with heidi in Cc: the reply goes to both in one message. The server takes it for
  Olivia and refuses heidi.
- Bob asks for a restart; alice and heidi are the approvers, each asked in a message of their own
  (heidi's fails, alice's goes out), and the decision notice goes to Bob, alice and heidi in one.
Each message counts as sent, so it is not retried (Olivia gets exactly one copy, heidi's address
sees one attempt per message), and the thread shows a `delivery_failed` note naming heidi and the
server's reply (in the API and `signoff threads show`), the log an ERROR, the metrics a `partial`
delivery; the threads' status and the agent go on as if everyone had received it.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

from bot.example_agent import agent as example_agent
from storage.db import Database
from tests.fault.conftest import record
from tests.fault.test_smtp_failures_retry_or_show_on_the_thread import threads_show
from tests.support.dovecot import DovecotServer
from tests.support.email_signoff import (
    ALICE,
    BOB,
    WAIT,
    body_of,
    email_signoff,
    mail,
    reply,
    sent_to,
    to_of,
)
from tests.support.fake_model import FakeModelServer, Response, text, tool_call
from tests.support.replay import database_problems
from tests.support.signoff_process import wait_until
from tests.support.smtp_server import SmtpServer

OLIVIA = "olivia@corp.example"
HEIDI = "heidi@corp.example"
REFUSAL = "550 5.1.1 no such user"
POLL = 0.25  # SIGNOFF_POLL_INTERVAL: the dispatcher looks at the outbox this often


def respond(body: dict[str, Any]) -> Response:
    content = str(body["messages"][-1]["content"])
    if re.search(r'<tool_result id="[^"]*" tool="restart_service">', content):
        return text("Restarted payments.")
    if "restart the payments worker" in content:
        return tool_call("restart_service", {"name": "payments", "reason": "stuck"})
    return text("answer to the probe")


def notes(thread: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for e in thread["events"] if e["type"] == "delivery_failed"]


def test_a_message_refused_for_some_recipients_is_sent_once_and_the_refusal_is_on_the_thread(
    dovecot: DovecotServer, smtp: SmtpServer, tmp_path: Path
) -> None:
    smtp.fail_for(HEIDI, 550, "5.1.1 no such user", times=99, stage="rcpt")
    with (
        FakeModelServer(default=respond) as model,
        email_signoff(
            dovecot,
            smtp,
            model,
            tmp_path,
            SIGNOFF_APPROVERS=f"{ALICE},{HEIDI}",
            SIGNOFF_POLL_INTERVAL=str(POLL),
            SIGNOFF_EMAIL_CC_JOINS="true",  # heidi, Cc'd, gets the reply
        ) as bot,
    ):
        bot.send(mail(OLIVIA, "probe", "probe: is search up?", cc=[HEIDI]))
        bot.send(mail(BOB, "payments", "Please restart the payments worker."))

        def thread_of(sender: str) -> dict[str, Any] | None:
            found = (bot.thread(row["id"]) for row in bot.threads())
            return next((t for t in found if t["events"][0]["by"] == sender), None)

        # Olivia's reply: one message to Olivia and heidi, taken for Olivia only.
        answered = wait_until(
            lambda: (t := thread_of(OLIVIA)) and notes(t) and t, timeout=WAIT, message="Olivia's reply sent, noted"
        )
        # Bob's request: alice is asked, heidi's own message is refused; alice approves.
        [ask] = bot.wait_sent(1, sent_to(ALICE))
        asking = wait_until(
            lambda: (t := thread_of(BOB)) and notes(t) and t, timeout=WAIT, message="the approval request noted"
        )
        assert asking["status"] == "waiting"
        [pending] = bot.pending()
        bot.send(reply(ask.message, ALICE, "approve"))
        done = wait_until(
            lambda: (t := bot.thread(asking["id"]))["status"] == "done" and len(notes(t)) == 2 and t,
            timeout=WAIT,
            message="Bob's thread done, the decision notice noted",
        )
        time.sleep(12 * POLL)  # a dozen dispatcher polls: a row left to retry would go out again
        answered = bot.thread(answered["id"])
        done = bot.thread(done["id"])
        shown = threads_show(bot, answered["id"])
        metrics = bot.api.get("/metrics").text
        logs = bot.process.logs()
        database = bot.process.env["SIGNOFF_DATABASE_URL"]

    # Olivia got the reply once; heidi's address was tried once; the row is sent, the thread done.
    [copy] = bot.sent(sent_to(OLIVIA))
    assert to_of(copy) == [OLIVIA, HEIDI] and copy.rcpt_tos == [OLIVIA]
    assert body_of(copy).strip() == "answer to the probe"
    assert [e["type"] for e in answered["events"]] == ["human_message", "agent_reply", "delivery_failed"]
    assert answered["status"] == "done"
    assert [d["status"] for d in answered["deliveries"]] == ["sent"]
    [note] = notes(answered)
    assert note["channel"] == "email" and note["kind"] == "reply" and note["attempts"] == 1
    assert note["error"] == f"not delivered to {HEIDI}: {REFUSAL}", note
    assert OLIVIA not in note["error"]
    assert "delivery_failed" in shown and f"{HEIDI}: {REFUSAL}" in shown, shown

    # Bob's thread went on: alice's approval ran the tool, Bob got the outcome; heidi is noted twice.
    request_note, decision_note = notes(done)
    assert request_note["kind"] == "approval_request" and decision_note["kind"] == "decision"
    assert HEIDI in request_note["error"] and REFUSAL in request_note["error"], request_note
    assert ALICE not in request_note["error"] and BOB not in request_note["error"]
    assert decision_note["error"] == f"not delivered to {HEIDI}: {REFUSAL}", decision_note
    assert done["status"] == "done" and pending["status"] == "pending"
    assert [d["status"] for d in done["deliveries"]] == ["sent"] * len(done["deliveries"])
    assert [e["type"] for e in done["events"] if e["type"] == "tool_result"] == ["tool_result"]
    assert len(bot.sent(sent_to(ALICE))) == 2  # the request and the decision notice, once each
    assert any(body_of(m).strip() == "Restarted payments." for m in bot.sent(sent_to(BOB)))

    # Not retried: one RCPT TO for heidi per message that named her.
    assert smtp.attempts[HEIDI] == 3, smtp.attempts
    assert not any(HEIDI in m.rcpt_tos for m in smtp.messages)
    # The model never saw a note: Olivia's thread cost one call, Bob's two (the call, then the result).
    assert sum("probe" in str(b["messages"]) for b in model.requests) == 1
    assert sum("restart the payments worker" in str(b["messages"]) for b in model.requests) == 2
    assert not any("delivery_failed" in str(b["messages"]) for b in model.requests)

    errors = [
        line for line in logs.splitlines() if "ERROR bot.dispatcher:" in line and "sent, but not delivered" in line
    ]
    for thread in (answered, done):
        assert any(thread["id"] in line and HEIDI in line and "550" in line for line in errors), logs
    assert 'signoff_deliveries_total{channel="email",outcome="partial"} 3.0' in metrics, metrics

    db = Database(database)
    try:
        assert database_problems(db, example_agent) == {}
    finally:
        db.dispose()

    record(
        f"case 5 SMTP, partly delivered (heidi {REFUSAL} at RCPT TO): a reply to Olivia + heidi, an approval "
        f"request to alice + heidi, its decision notice to Bob + alice + heidi: 3 rows sent, 3 delivery_failed "
        f"notes naming heidi + ERROR lines, heidi tried {smtp.attempts[HEIDI]} times (once per message), Olivia's "
        "copies 1; both threads done, the tool ran once, 0 notes shown to the model"
    )
