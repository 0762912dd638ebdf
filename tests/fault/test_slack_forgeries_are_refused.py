"""Case 7: forged Slack requests are refused before anything is stored, and only the first valid
click decides.

One real `signoff serve` in Slack HTTP mode, a `FakeSlack` recording every Web API call, requests
posted to /slack/events exactly as Slack would (signed with `SignatureVerifier`). Outcomes are read
from the bot's HTTP API, its database (inbox, events, the example agent's effects) and the fake.

Requests have no expiry in Signoff (nothing reminds or expires them yet), so "after expiry" is
tested as a click on a request that was already decided and whose thread has finished.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
from sqlmodel import col, func, select

from bot.example_agent.models import ServiceActionRow
from channels.slack.blocks import (
    APPROVE_ACTION_ID,
    DENY_ACTION_ID,
    DENY_CALLBACK_ID,
    DENY_REASON_ACTION_ID,
    DENY_REASON_BLOCK_ID,
)
from storage.db import Database
from storage.models import EventRow, OutboxRow, ReceiptRow, RequestRow, ThreadRow
from tests.fault.conftest import record
from tests.support.crash import unapproved_effects
from tests.support.fake_model import FakeModelServer, restart_when_asked
from tests.support.fake_slack import FakeSlack
from tests.support.signoff_process import wait_until
from tests.support.slack_requests import app_mention, block_actions, event_callback, sign, view_submission
from tests.support.slack_signoff import (
    ALICE,
    BOB,
    MALLORY,
    SECRET,
    SlackSignoff,
    button_value,
    has_buttons,
    posted,
    slack_signoff,
)

CAROL = "U0CAROL"  # an approver too, through the user group S0OPS
JSON, FORM = "application/json", "application/x-www-form-urlencoded"
STALE = 6 * 60  # seconds; Bolt refuses a timestamp more than 5 minutes off

Body = Callable[[str], bytes]  # the request body, as sent by this user
Forgery = Callable[[Body, str], tuple[bytes, dict[str, str]]]


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeSlack]:
    with FakeSlack() as server:
        server.usergroups["S0OPS"] = [CAROL]
        yield server


@pytest.fixture(scope="module")
def bot(fake: FakeSlack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SlackSignoff]:
    with (
        FakeModelServer(default=restart_when_asked) as model_server,
        slack_signoff(fake, model_server, tmp_path_factory.mktemp("forgeries"), approvers=f"{ALICE},S0OPS") as running,
    ):
        yield running
    assert fake.errors == []


@pytest.fixture(scope="module")
def db(bot: SlackSignoff) -> Iterator[Database]:
    database = Database(bot.process.env["SIGNOFF_DATABASE_URL"])
    yield database
    assert unapproved_effects(database) == []
    database.dispose()


def waiting_on(bot: SlackSignoff, fake: FakeSlack, service: str, channel: str) -> tuple[tuple[str, str], str, str]:
    """A thread in `channel` waiting on an approval to restart `service`: (card, request id, thread id)."""
    assert bot.event(app_mention(f"<@UBOT> restart {service}", user=BOB, channel=channel)).status_code == 200
    [(card_at, card)] = wait_until(lambda: [c for c in posted(fake, has_buttons) if c[0][0] == channel], message="card")
    request_id = button_value(card)
    thread_id = bot.request(request_id)["thread_id"]
    bot.wait_status(thread_id, "waiting")
    return card_at, request_id, thread_id


def stored(db: Database) -> dict[str, Any]:
    """Everything an inbound request could have written."""
    with db.session() as session:
        return {
            "inbox": set(session.exec(select(ReceiptRow.key))),
            "threads": session.exec(select(func.count()).select_from(ThreadRow)).one(),
            "events": session.exec(select(func.count()).select_from(EventRow)).one(),
            "requests": {(r.id, r.status) for r in session.exec(select(RequestRow))},
            "outbox": session.exec(select(func.count()).select_from(OutboxRow)).one(),
        }


def effects(db: Database, thread_id: str) -> list[tuple[str, str, str | None]]:
    with db.session() as session:
        rows = session.exec(select(ServiceActionRow).where(col(ServiceActionRow.thread_id) == thread_id))
        return [(r.action, r.service, r.approved_by) for r in rows]


def decisions(bot: SlackSignoff, thread_id: str) -> list[tuple[bool, str]]:
    return [(e["approved"], e["by"]) for e in bot.thread(thread_id)["events"] if e["type"] == "approval_decided"]


# --- case 7a: signatures ---------------------------------------------------------------------------


def _headers(ts: int, signature: str | None, content_type: str) -> dict[str, str]:
    headers = {"Content-Type": content_type, "X-Slack-Request-Timestamp": str(ts)}
    if signature is not None:
        headers["X-Slack-Signature"] = signature
    return headers


def _signature(secret: str, body: bytes, ts: int) -> str:
    return sign(secret, body, JSON, ts)[1]["X-Slack-Signature"]


def wrong_secret(body: Body, kind: str) -> tuple[bytes, dict[str, str]]:
    return sign("not-the-signing-secret", body(ALICE), kind)


def tampered(body: Body, kind: str) -> tuple[bytes, dict[str, str]]:
    # What Slack signed for Mallory, rewritten to be Alice's.
    return body(ALICE), sign(SECRET, body(MALLORY), kind)[1]


def stale(body: Body, kind: str) -> tuple[bytes, dict[str, str]]:
    return sign(SECRET, body(ALICE), kind, int(time.time()) - STALE)


def from_the_future(body: Body, kind: str) -> tuple[bytes, dict[str, str]]:
    return sign(SECRET, body(ALICE), kind, int(time.time()) + STALE)


def replayed_with_a_fresh_timestamp(body: Body, kind: str) -> tuple[bytes, dict[str, str]]:
    old = int(time.time()) - STALE
    return body(ALICE), _headers(int(time.time()), _signature(SECRET, body(ALICE), old), kind)


def unsigned(body: Body, kind: str) -> tuple[bytes, dict[str, str]]:
    return body(ALICE), _headers(int(time.time()), None, kind)


def no_timestamp(body: Body, kind: str) -> tuple[bytes, dict[str, str]]:
    signed, headers = sign(SECRET, body(ALICE), kind)
    del headers["X-Slack-Request-Timestamp"]
    return signed, headers


def garbage_signature(body: Body, kind: str) -> tuple[bytes, dict[str, str]]:
    return body(ALICE), _headers(int(time.time()), "v0=" + "0" * 64, kind)


def other_version(body: Body, kind: str) -> tuple[bytes, dict[str, str]]:
    ts = int(time.time())
    return body(ALICE), _headers(ts, _signature(SECRET, body(ALICE), ts).replace("v0=", "v1=", 1), kind)


FORGERIES: list[Forgery] = [
    wrong_secret,
    tampered,
    stale,
    from_the_future,
    replayed_with_a_fresh_timestamp,
    unsigned,
    no_timestamp,
    garbage_signature,
    other_version,
]


def with_user(payload: dict[str, Any], *path: str, form: bool = False) -> Body:
    """`payload`'s body with the user at `path` set; form-encoded as `payload=<json>` for interactions."""

    def body(user: str) -> bytes:
        copy = json.loads(json.dumps(payload))
        target = copy
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = user
        raw = json.dumps(copy)
        return urlencode({"payload": raw}).encode() if form else raw.encode()

    return body


def test_badly_signed_requests_get_401_and_store_nothing(bot: SlackSignoff, fake: FakeSlack, db: Database) -> None:
    card_at, request_id, thread_id = waiting_on(bot, fake, "web", "C0SIGNED")
    click = block_actions(
        APPROVE_ACTION_ID, request_id, user=ALICE, channel=card_at[0], message=dict(fake.messages[card_at])
    )
    deny = view_submission(DENY_CALLBACK_ID, request_id, {DENY_REASON_BLOCK_ID: {DENY_REASON_ACTION_ID: "no"}})
    mention = event_callback(app_mention("<@UBOT> restart payments", channel="C0SIGNED2"), "Ev0FORGED")
    handshake = {"token": "t", "challenge": "", "type": "url_verification"}
    requests: list[tuple[Body, str]] = [
        (with_user(mention, "event", "user"), JSON),  # would start a thread
        (with_user(click, "user", "id", form=True), FORM),  # would approve
        (with_user(deny, "user", "id", form=True), FORM),  # would deny
        (with_user(handshake, "challenge"), JSON),  # would be answered
    ]
    fake.reset()
    before = stored(db)

    statuses = [bot.post(*forgery(body, kind)).status_code for body, kind in requests for forgery in FORGERIES]

    accepted = [s for s in statuses if s != 401]
    changed = stored(db) != before
    record(
        f"[slack signatures] forged={len(statuses)} ({len(FORGERIES)} kinds x {len(requests)} requests) "
        f"accepted={len(accepted)} database_changed={changed} slack_calls={len(fake.calls)}"
    )
    assert accepted == [] and not changed and fake.calls == []
    assert bot.request(request_id)["status"] == "pending"

    # The very same click, signed properly, decides: nothing was recorded under its trigger id.
    assert bot.post(*sign(SECRET, with_user(click, "user", "id", form=True)(ALICE), FORM)).status_code == 200
    bot.wait_status(thread_id, "done")
    assert decisions(bot, thread_id) == [(True, ALICE)]
    assert effects(db, thread_id) == [("restart", "web", ALICE)]


# --- case 7b: clicks -------------------------------------------------------------------------------


def test_only_the_first_valid_click_decides(bot: SlackSignoff, fake: FakeSlack, db: Database) -> None:
    card_a, a, thread_a = waiting_on(bot, fake, "payments", "C0CLICKA")
    card_b, b, thread_b = waiting_on(bot, fake, "search", "C0CLICKB")
    fake.reset()
    refused: list[str] = []

    def click(what: str, action: str, request_id: str, user: str, card: tuple[str, str], **kw: Any) -> None:
        assert bot.click(action, request_id, user=user, card=card, **kw).status_code == 200, what
        refused.append(what)

    def submit_deny(what: str, request_id: str, user: str) -> None:
        response = bot.submit_deny(request_id, "forged reason", user=user, view_id=f"V0REFUSED{len(refused)}")
        assert response.json()["response_action"] == "errors", what  # the modal says why
        refused.append(what)

    # Before any decision: people who may not decide, and a card naming no real request.
    click("non-approver approves", APPROVE_ACTION_ID, a, MALLORY, card_a)
    click("non-approver denies", DENY_ACTION_ID, a, MALLORY, card_a)
    submit_deny("non-approver submits a deny modal", a, MALLORY)
    click("the requester approves", APPROVE_ACTION_ID, a, BOB, card_a)
    click("a click for an unknown request", APPROVE_ACTION_ID, "0" * 32, ALICE, card_a)
    # Refusals are told after the answer to Slack: wait for them, so these came first.
    fake.wait_for_sync("chat.postEphemeral", count=4)
    assert (bot.request(a)["status"], bot.request(b)["status"]) == ("pending", "pending")
    assert decisions(bot, thread_a) == decisions(bot, thread_b) == []

    # The first valid decision, on A only.
    assert bot.click(APPROVE_ACTION_ID, a, user=ALICE, card=card_a, trigger_id="1.1700000000.first").status_code == 200
    bot.wait_status(thread_a, "done")
    assert bot.request(b)["status"] == "pending", "approving A decided B"

    # Replayed, second and late decisions on A; B denied, then clicked after its thread finished.
    click("the same click replayed", APPROVE_ACTION_ID, a, ALICE, card_a, trigger_id="1.1700000000.first")
    click("a second click by the approver", APPROVE_ACTION_ID, a, ALICE, card_a)
    click("another approver approves", APPROVE_ACTION_ID, a, CAROL, card_a)
    click("another approver denies", DENY_ACTION_ID, a, CAROL, card_a)
    submit_deny("another approver submits a deny modal", a, CAROL)
    assert bot.click(DENY_ACTION_ID, b, user=CAROL, card=card_b).status_code == 200
    fake.wait_for_sync("views.open")
    assert bot.submit_deny(b, "not today", user=CAROL, view_id="V0CAROL").status_code == 200
    bot.wait_status(thread_b, "done")
    click("an approval after the denial", APPROVE_ACTION_ID, b, ALICE, card_b)
    click("a non-approver after the thread finished", APPROVE_ACTION_ID, b, MALLORY, card_b)

    # Each refused click is told why, privately, to the one who clicked; no modal opened for them.
    told = fake.wait_for_sync("chat.postEphemeral", count=len(refused) - 2)
    assert len(told) == len(refused) - 2 and {t["channel"] for t in told} == {card_a[0], card_b[0]}
    assert len(fake.calls_to("views.open")) == 1  # Carol's genuine deny of B

    extra = len(decisions(bot, thread_a)) + len(decisions(bot, thread_b)) - 2
    record(f"[slack clicks] refused={len(refused)} accepted=0 extra_decisions={extra} effects=1 (1 approval)")
    assert decisions(bot, thread_a) == [(True, ALICE)] and decisions(bot, thread_b) == [(False, CAROL)]
    assert (bot.request(a)["status"], bot.request(b)["status"]) == ("approved", "denied")
    assert effects(db, thread_a) == [("restart", "payments", ALICE)] and effects(db, thread_b) == []
    # The cards show who decided.
    assert "U0ALICE" in json.dumps(fake.messages[card_a]) and "U0CAROL" in json.dumps(fake.messages[card_b])
