"""Case 1 (channels): `signoff serve` SIGKILLed after a Slack post or an SMTP send, before the outbox
row is marked sent, then restarted on the same database.

Each job is a thread that checks a service, asks for approval, is approved and replies: three
outgoing messages (the card or approval email, the decision, the final reply). The jobs run one
after another through a chain of runs, each armed to die at a chosen send (`after_send=N`, counted
per run), so that the kills land after job A's card, job B's decision (the card's chat.update, or
the decision email) and job C's reply. For email, job C's kill comes from inside the SMTP server
instead: after it kept the reply and before its 250, the widest window there is.

Proven from the database and from what Slack and the SMTP server received: every thread ended,
the tool ran once per thread, every outbox row was sent; Slack got one chat.postMessage per outbox
row (counted by the metadata naming the row); every email Message-ID arrived, and the only one
that arrived twice is the one whose sender died before the 250 (same Message-ID both times).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlmodel import col, select

from agent.events import parse_event
from bot.example_agent import agent as example_agent
from bot.example_agent.models import ServiceActionRow
from channels.slack.blocks import APPROVE_ACTION_ID
from storage.db import Database
from storage.models import EventRow, OutboxRow, RequestRow, ThreadRow
from tests.fault.conftest import record
from tests.support.crash import APPROVED_EVENTS, CrashableSignoff, without_retries
from tests.support.dovecot import DovecotServer
from tests.support.email_signoff import (
    ALICE,
    BOB,
    EmailSignoff,
    email_env,
    mail,
    new_message_id,
    reply,
)
from tests.support.fake_model import FakeModelServer
from tests.support.fake_slack import FakeSlack
from tests.support.slack_requests import app_mention
from tests.support.slack_signoff import ALICE as SLACK_ALICE
from tests.support.slack_signoff import BOB as SLACK_BOB
from tests.support.slack_signoff import SECRET, SlackSignoff, has_buttons
from tests.support.smtp_server import Received, SmtpServer

LEASE = "3"  # seconds; a claimed outbox row whose sender died is retried after twice that
TIMEOUT = 150.0
# Sends per run: job A's card (1) dies. Then A's card again (found, not posted), A's decision, A's
# reply, B's card, B's decision (5) dies. Then B's decision again, B's reply, C's card, C's decision,
# C's reply (5) dies. The decision goes out before the reply: the reply waits for the tool and a model call.
PLANS = ["after_send=1", "after_send=5", "after_send=5"]


# --- one job through kills --------------------------------------------------------------------------


@dataclass
class Rounds:
    kills: list[str] = field(default_factory=list)  # how each killed run ended
    starts: int = 0


def run_jobs(server: CrashableSignoff, plans: list[str], jobs: list[Callable[[], bool]], rounds: Rounds) -> None:
    """Run `jobs` one after another (each `step` returns True once its job is finished); the k-th run of
    the server is armed with `plans[k]`, later runs with nothing. Stops the server at the end."""
    armings = iter(plans)
    pending = list(jobs)
    deadline = time.monotonic() + TIMEOUT
    while pending:
        if time.monotonic() > deadline:
            raise AssertionError(f"{len(pending)} job(s) unfinished after {TIMEOUT}s; kills so far {rounds.kills}")
        if not server.alive():
            if server.proc is not None:
                rounds.kills.append(server.death())
            rounds.starts += 1
            server.start_with(next(armings, ""))
            continue
        try:
            if pending[0]():
                pending.pop(0)
                continue
        except httpx.TransportError:
            pass
        time.sleep(0.1)  # ok: polling with a deadline
    server.stop()


def thread_rows(db: Database, origin_key: str) -> tuple[ThreadRow | None, list[OutboxRow], list[RequestRow]]:
    with db.session() as session:
        thread = session.exec(select(ThreadRow).where(ThreadRow.origin_key == origin_key)).first()
        if thread is None:
            return None, [], []
        outbox = list(
            session.exec(select(OutboxRow).where(OutboxRow.thread_id == thread.id).order_by(col(OutboxRow.id)))
        )
        requests = list(session.exec(select(RequestRow).where(RequestRow.thread_id == thread.id)))
        return thread, outbox, requests


def finished(thread: ThreadRow | None, outbox: list[OutboxRow]) -> bool:
    return thread is not None and thread.status == "done" and bool(outbox) and all(r.status == "sent" for r in outbox)


def card_sent(outbox: list[OutboxRow]) -> OutboxRow | None:
    return next((r for r in outbox if r.kind == "approval_request" and r.status == "sent"), None)


@dataclass
class Verdict:
    threads: int = 0
    completed: int = 0
    effects: int = 0
    rows: int = 0
    retried: list[str] = field(default_factory=list)  # kinds of the rows sent more than once
    problems: list[str] = field(default_factory=list)


def verify_threads(db: Database) -> Verdict:
    """Every thread ended as an approved job does, with one effect, and every outbox row was sent."""
    from tests.support.replay import database_problems

    verdict = Verdict()
    with db.session() as session:
        threads = list(session.exec(select(ThreadRow)))
        actions = list(session.exec(select(ServiceActionRow)))
        outbox = list(session.exec(select(OutboxRow).order_by(col(OutboxRow.id))))
        for thread in threads:
            rows = session.exec(select(EventRow).where(EventRow.thread_id == thread.id).order_by(col(EventRow.seq)))
            types = [parse_event(r.data).type for r in rows]
            if without_retries(types) != APPROVED_EVENTS:
                verdict.problems.append(f"thread {thread.id}: events {types}")
            done = [a for a in actions if a.thread_id == thread.id]
            if len(done) != 1:
                verdict.problems.append(f"thread {thread.id}: {len(done)} effects")
    verdict.threads = len(threads)
    verdict.completed = sum(1 for t in threads if t.status == "done")
    verdict.effects = len(actions)
    verdict.rows = len(outbox)
    verdict.retried = [r.kind for r in outbox if r.attempts > 1]
    verdict.problems += [
        f"outbox {r.id} ({r.kind}) is {r.status}: {r.last_error}" for r in outbox if r.status != "sent"
    ]
    for thread_id, found in database_problems(db, example_agent).items():
        verdict.problems += [f"thread {thread_id}: {p}" for p in found]
    return verdict


# --- Slack ---------------------------------------------------------------------------------------------


def test_slack_posts_each_message_once_when_killed_after_a_send(
    ops_model_server: FakeModelServer, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'signoff.db'}"
    with FakeSlack() as fake:
        server = CrashableSignoff(
            {
                "SIGNOFF_DATABASE_URL": url,
                "SIGNOFF_MODEL": "openai/fake",
                "SIGNOFF_MODEL_API_BASE": ops_model_server.url,
                "SIGNOFF_MODEL_API_KEY": "x",
                "SIGNOFF_APPROVERS": SLACK_ALICE,
                "SIGNOFF_LEASE_SECONDS": LEASE,
                "SLACK_BOT_TOKEN": fake.bot_token,
                "SLACK_API_URL": fake.api_url,
                "SLACK_SIGNING_SECRET": SECRET,
            },
            tmp_path,
        )
        bot = SlackSignoff(server, fake)
        db = Database(url)
        rounds = Rounds()
        try:
            run_jobs(server, PLANS, [slack_job(bot, fake, db, key) for key in "ABC"], rounds)
            verdict = verify_threads(db)
            with db.session() as session:
                cards = [r.refs for r in session.exec(select(OutboxRow).where(OutboxRow.kind == "approval_request"))]
        finally:
            bot.close()
            server.stop()
            db.dispose()

        posts = fake.calls_to("chat.postMessage")
        per_row = Counter(
            (p["metadata"]["event_payload"]["outbox_id"], p["metadata"]["event_payload"]["part"]) for p in posts
        )
        twice = {row: n for row, n in per_row.items() if n > 1}
        line = (
            f"[slack after_send] kills={len(rounds.kills)} (A's card, B's chat.update, C's reply) "
            f"starts={rounds.starts} threads={verdict.threads} completed={verdict.completed} "
            f"effects={verdict.effects} outbox_rows={verdict.rows} resent_rows={verdict.retried} "
            f"posts={len(posts)} rows_posted={len(per_row)} posted_twice={len(twice)} "
            f"updates={len(fake.calls_to('chat.update'))} lookups={len(fake.calls_to('conversations.replies'))}"
        )
        record(line)
        assert fake.errors == []
        assert rounds.kills == ["after_send"] * 3
        assert verdict.problems == []
        assert verdict.threads == verdict.completed == verdict.effects == 3
        assert verdict.retried == ["approval_request", "decision", "reply"]  # each kill left its row to retry
        assert twice == {}
        assert len(per_row) == 6  # a card and a reply per thread; the decision updates the card
        # Each card row points at its one message, and that message was updated with the outcome.
        assert not any(has_buttons(fake.messages[(c["channel"], c["ts"])]) for c in cards) and len(cards) == 3


def slack_job(bot: SlackSignoff, fake: FakeSlack, db: Database, key: str) -> Callable[[], bool]:
    """A mention asking for a restart; Approve on its card once the card is recorded as sent."""
    mention = app_mention(f"<@UBOT> job {key}: restart payments", user=SLACK_BOB, channel="C1")
    fake.seed_message("C1", mention["text"], user=SLACK_BOB, ts=mention["ts"])
    state: dict[str, Any] = {"mentioned": False, "clicked_at": 0.0}

    def step() -> bool:
        if not state["mentioned"]:
            assert bot.event(mention).status_code == 200
            state["mentioned"] = True
        thread, outbox, requests = thread_rows(db, f"T1:C1:{mention['ts']}")
        card = card_sent(outbox)
        pending = [r for r in requests if r.status == "pending"]
        if card is not None and pending and time.monotonic() - state["clicked_at"] > 5:
            at = (card.refs["channel"], card.refs["ts"])
            assert bot.click(APPROVE_ACTION_ID, pending[0].id, user=SLACK_ALICE, card=at).status_code == 200
            state["clicked_at"] = time.monotonic()
        return finished(thread, outbox)

    return step


# --- email ---------------------------------------------------------------------------------------------


class KillBeforeTheReply:
    """Wraps the SMTP server's handler: once it kept a message matching `where`, SIGKILL the sender
    before answering 250. The message went out; the sender never learns it did."""

    def __init__(self, smtp: SmtpServer, where: Callable[[Received], bool], kill: Callable[[], None]) -> None:
        self.smtp = smtp
        self.inner = smtp._controller.handler
        self.where = where
        self.kill = kill
        self.fired = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        answer = str(await self.inner.handle_DATA(server, session, envelope))
        if not self.fired and answer.startswith("250") and self.smtp.messages and self.where(self.smtp.messages[-1]):
            self.fired = True
            self.kill()
        return answer


def test_email_is_sent_once_per_message_id_when_killed_after_a_send(
    dovecot: DovecotServer, smtp: SmtpServer, ops_model_server: FakeModelServer, tmp_path: Path
) -> None:
    env = {**email_env(dovecot, smtp, ops_model_server, tmp_path), "SIGNOFF_LEASE_SECONDS": LEASE}
    server = CrashableSignoff(env, tmp_path)
    bot = EmailSignoff(server, dovecot, smtp)
    db = Database(env["SIGNOFF_DATABASE_URL"])
    roots = {key: new_message_id("corp.example") for key in "ABC"}
    # Job C's reply: kept by the server, then the sender dies before the 250.
    smtp._controller.handler = KillBeforeTheReply(
        smtp, lambda m: _label(m) == "reply" and roots["C"] in str(m.message.get("References", "")), server.kill
    )
    rounds = Rounds()
    try:
        jobs = [email_job(bot, smtp, db, key, roots[key]) for key in "ABC"]
        run_jobs(server, PLANS[:2], jobs, rounds)
        verdict = verify_threads(db)
        with db.session() as session:
            outbox = list(session.exec(select(OutboxRow)))
    finally:
        bot.close()
        server.stop()
        db.dispose()

    expected = {mid for row in outbox for mid in row.refs.get("message_ids", [])}
    received = Counter(str(m.message["Message-ID"]) for m in smtp.messages)
    recipients = Counter(len(m.rcpt_tos) for m in smtp.messages)
    twice = {mid: n for mid, n in received.items() if n > 1}
    line = (
        f"[email after_send] kills={len(rounds.kills)} (A's approval email, B's decision email, C's reply before "
        f"its 250) starts={rounds.starts} threads={verdict.threads} completed={verdict.completed} "
        f"effects={verdict.effects} outbox_rows={verdict.rows} resent_rows={verdict.retried} "
        f"message_ids={len(expected)} received={sum(received.values())} distinct={len(received)} "
        f"same_id_twice={len(twice)} recipients_per_message={dict(recipients)}"
    )
    record(line)
    assert rounds.kills == ["after_send", "after_send", "timer"]  # "timer": killed from outside (the SMTP server)
    assert verdict.problems == []
    assert verdict.threads == verdict.completed == verdict.effects == 3
    assert verdict.retried == ["approval_request", "decision", "reply"]
    assert set(received) == expected  # every Message-ID arrived, nothing else did
    # After `after_send` the send was already recorded: nothing went twice. Killed before the 250,
    # the reply went again under the same Message-ID (which mail clients show once).
    assert [_label_of(mid) for mid in twice] == ["reply"] and set(twice.values()) == {2}


def _label_of(message_id: str) -> str:
    return message_id.removeprefix("<signoff.").split(".")[0]


def _label(received: Received) -> str:
    return _label_of(str(received.message["Message-ID"]))


def email_job(bot: EmailSignoff, smtp: SmtpServer, db: Database, key: str, root: str) -> Callable[[], bool]:
    """Bob asks by email; Alice answers the approval email with "approve" once it is recorded as sent."""
    state: dict[str, Any] = {"mailed": False, "answered": False}

    def step() -> bool:
        if not state["mailed"]:
            bot.send(mail(BOB, f"job {key}", f"job {key}: restart payments", message_id=root))
            state["mailed"] = True
        thread, outbox, _ = thread_rows(db, root)
        card = card_sent(outbox)
        if card is not None and not state["answered"]:
            ids = set(card.refs.get("message_ids", []))
            ask = next(m for m in smtp.messages if str(m.message["Message-ID"]) in ids and ALICE in m.rcpt_tos)
            bot.send(reply(ask.message, ALICE, "approve"))
            state["answered"] = True
        return finished(thread, outbox)

    return step
