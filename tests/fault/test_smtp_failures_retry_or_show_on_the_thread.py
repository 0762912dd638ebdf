"""Case 5: the SMTP server answers 4xx, stalls past the bot's timeout, or answers 5xx.

One `signoff serve` (email over real Dovecot and aiosmtpd), one thread per sender; the SMTP server
injects a different fault into each sender's reply (`SmtpServer.fail_for` / `stall_for`, by
recipient). A 4xx or a stall is retried with backoff and the reply arrives under the one Message-ID
the first attempt carried; a 5xx is given up at once, and the failure is on the thread (a
`delivery_failed` event, in the API and `signoff threads show`, the thread still `done`, the model
not called again) and in the log (an ERROR naming the thread, the recipient and the SMTP reply).
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.example_agent import agent as example_agent
from storage.db import Database
from tests.fault.conftest import record
from tests.support.dovecot import DovecotServer
from tests.support.email_signoff import (
    WAIT,
    EmailSignoff,
    body_of,
    email_signoff,
    mail,
    sent_to,
)
from tests.support.fake_model import FakeModelServer, Response, text
from tests.support.replay import database_problems
from tests.support.signoff_process import wait_until
from tests.support.smtp_server import SmtpServer

TIMEOUT = 1.0  # SIGNOFF_SMTP_TIMEOUT
STALL = 3.0  # past the timeout
PROBE = re.compile(r"probe-[a-z0-9]+")


@dataclass(frozen=True)
class Fault:
    what: str
    inject: Callable[[SmtpServer, str], None]
    failures: int  # attempts that fail before one goes through; -1: never goes through
    copies: int = 1  # copies the server keeps: a message kept before a stall is sent again


FAULTS: dict[str, Fault] = {
    "carol": Fault("451 at DATA x2", lambda s, a: s.fail_for(a, 451, "4.3.0 try again later", times=2), 2),
    "dave": Fault("450 at RCPT TO x2", lambda s, a: s.fail_for(a, 450, "4.2.1 busy", times=2, stage="rcpt"), 2),
    "erin": Fault("stall at RCPT TO x2", lambda s, a: s.stall_for(a, STALL, times=2, stage="rcpt"), 2),
    "frank": Fault("stall at DATA x1", lambda s, a: s.stall_for(a, STALL, times=1), 1),
    "judy": Fault("kept, then a stall at DATA x1", lambda s, a: s.stall_for(a, STALL, times=1, keep=True), 1, 2),
    "grace": Fault("550 at DATA", lambda s, a: s.fail_for(a, 550, "5.7.1 message rejected", times=99), -1),
    "heidi": Fault("550 at RCPT TO", lambda s, a: s.fail_for(a, 550, "5.1.1 no such user", times=99, stage="rcpt"), -1),
    "ivan": Fault("none", lambda s, a: None, 0),
}


def address(name: str) -> str:
    return f"{name}@corp.example"


def answer_the_probe(body: dict[str, Any]) -> Response:
    users = [m for m in body["messages"] if m["role"] == "user"]
    found = PROBE.search(str(users[-1]["content"]))
    return text(f"answer to {found.group(0) if found else '?'}")


def model_calls_about(model: FakeModelServer, probe: str) -> int:
    return sum(probe in str(body["messages"]) for body in model.requests)


def threads_show(bot: EmailSignoff, thread_id: str) -> str:
    env = {k: v for k, v in bot.process.env.items() if k != "SIGNOFF_PORT"}
    done = subprocess.run(
        [sys.executable, "-m", "bot", "threads", "show", thread_id],
        env=env,
        cwd=bot.process.workdir,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout


def test_4xx_and_stalls_are_retried_under_one_message_id_and_5xx_is_shown_on_the_thread(
    dovecot: DovecotServer, smtp: SmtpServer, model: FakeModelServer, tmp_path: Path
) -> None:
    model.default = answer_the_probe
    for name, fault in FAULTS.items():
        fault.inject(smtp, address(name))
    with email_signoff(
        dovecot, smtp, model, tmp_path, SIGNOFF_SMTP_TIMEOUT=str(TIMEOUT), SIGNOFF_IMAP_POLL_INTERVAL="600"
    ) as bot:
        for name in FAULTS:
            bot.send(mail(address(name), f"probe-{name} please", f"probe-{name}: is search up?"))

        delivered = [n for n, f in FAULTS.items() if f.failures >= 0]
        given_up = [n for n, f in FAULTS.items() if f.failures < 0]

        def received(name: str) -> list[Any]:
            return [m for m in bot.sent(sent_to(address(name))) if body_of(m).strip() == f"answer to probe-{name}"]

        def by_probe() -> dict[str, dict[str, Any]]:
            found = (bot.thread(row["id"]) for row in bot.threads())
            return {m.group(0): t for t in found if (m := PROBE.search(t["events"][0]["text"]))}

        def all_sent() -> dict[str, dict[str, Any]] | None:
            threads = by_probe()
            sent = [threads.get(f"probe-{n}", {}).get("deliveries", []) for n in delivered]
            return threads if all(d and d[-1]["status"] == "sent" for d in sent) else None

        threads = wait_until(all_sent, timeout=WAIT, message="every retried reply sent")
        failed = {
            n: wait_until(
                lambda n=n: (
                    (t := bot.thread(threads[f"probe-{n}"]["id"]))["events"][-1]["type"] == "delivery_failed" and t
                ),
                timeout=WAIT,
                message=f"{n}'s reply given up",
            )
            for n in given_up
        }
        shown = {n: threads_show(bot, failed[n]["id"]) for n in given_up}
        logs = bot.process.logs()
        database = bot.process.env["SIGNOFF_DATABASE_URL"]

    # Retried: each reply arrived; every copy carries the Message-ID of the first attempt.
    copies = {n: received(n) for n in delivered}
    ids = {n: {str(m.message["Message-ID"]) for m in copies[n]} for n in delivered}
    assert all(len(ids[n]) == 1 for n in delivered), ids
    attempts = {n: smtp.attempts[address(n)] for n in FAULTS}
    for name in delivered:
        assert attempts[name] == FAULTS[name].failures + 1, (name, attempts)
        assert len(copies[name]) == FAULTS[name].copies, (name, copies[name])
        assert threads[f"probe-{name}"]["status"] == "done"
        assert [d["status"] for d in threads[f"probe-{name}"]["deliveries"]] == ["sent"]

    # Given up: after one attempt, on the thread, in the CLI and the log; nothing else happened.
    for name in given_up:
        thread = failed[name]
        note = thread["events"][-1]
        code = "550"
        assert [e["type"] for e in thread["events"]] == ["human_message", "agent_reply", "delivery_failed"]
        assert thread["status"] == "done"
        assert note["channel"] == "email" and note["kind"] == "reply" and note["attempts"] == 1
        assert address(name) in note["error"] and code in note["error"], note
        assert [(d["status"], code in (d["error"] or "")) for d in thread["deliveries"]] == [("failed", True)]
        assert "delivery_failed" in shown[name] and code in shown[name], shown[name]
        assert attempts[name] == 1
        assert received(name) == []
        assert model_calls_about(model, f"probe-{name}") == 1  # the note never goes back to the model
        error_lines = [line for line in logs.splitlines() if "ERROR bot.dispatcher: giving up" in line]
        assert any(thread["id"] in line and address(name) in line and code in line for line in error_lines), logs

    db = Database(database)
    try:
        assert database_problems(db, example_agent) == {}
    finally:
        db.dispose()

    total_copies = sum(len(c) for c in copies.values())
    duplicates = sum(len(i) - 1 for i in ids.values())
    per_fault = "; ".join(
        f"{FAULTS[n].what}: {attempts[n]} attempts"
        + (f", {len(copies[n])} cop{'y' if len(copies[n]) == 1 else 'ies'}" if n in copies else ", given up")
        for n in FAULTS
    )
    record(
        f"case 5 SMTP (timeout {TIMEOUT:.0f}s): {per_fault}; {len(delivered)} replies = {len(delivered)} "
        f"Message-IDs received ({total_copies} copies), {len(given_up)} given up = {len(given_up)} delivery_failed "
        f"events + ERROR lines, 0 extra model calls; duplicates {duplicates} (by Message-ID), losses 0"
    )
