"""The email channel's delivery against a real SMTP server (aiosmtpd) and the real database (SQLite
and PostgreSQL): each approver gets their own token, Message-IDs are derived so a retry sends the
same one, and parts already sent are not sent again; the database maps every Message-ID we know,
ours and theirs, to its thread; the mailbox's progress only moves forward."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from agent.events import ApprovalRequested, HumanMessage
from bot.email_wiring import StoreMailboxState, StoreMailIndex
from bot.views import origin_of, request_view
from channels.base import Outbound
from channels.email.addresses import Mailbox
from channels.email.deliver import SmtpChannel
from channels.email.mailer import EmailConfig, Mailer
from channels.email.smtp_send import SmtpSettings
from channels.email.threads import received_key
from channels.email.tokens import read_reply_token
from channels.errors import PermanentDeliveryError, RetryableDeliveryError
from storage.async_store import AsyncStore
from storage.store import Store
from tests.support.smtp_server import SmtpServer

AGENT = "agent@example.test"
SECRET = "integration-secret"
ALICE, CAROL, BOB = "alice@example.com", "carol@example.com", "bob@corp.example"
ROOT = "<root@corp.example>"
SENT_AT = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)

pytestmark = pytest.mark.filterwarnings("ignore:Session.login_data is deprecated:DeprecationWarning")


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer.start()
    yield server
    server.stop()


def channel(store: Store, smtp: SmtpServer, **config_changes: Any) -> tuple[SmtpChannel, StoreMailIndex]:
    config = EmailConfig(address=AGENT, secret=SECRET, approvers=(ALICE,), **config_changes)
    index = StoreMailIndex(AsyncStore(store, threads=2), Mailbox(AGENT))
    settings = SmtpSettings(host=smtp.host, port=smtp.port, tls="off", timeout=5)
    mailer = Mailer(config, settings, index, now=lambda: SENT_AT)
    return SmtpChannel(mailer, index), index


def waiting_thread(store: Store, approvers: list[str]) -> tuple[str, str]:
    """An email thread from Bob, waiting for an approval; (thread id, request id)."""
    thread = store.create_thread(
        agent="ops",
        first=HumanMessage(text="restart payments", by=BOB, channel="email"),
        requested_by=BOB,
        origin_channel="email",
        origin_key=ROOT,
        origin_data={"subject": "payments", "participants": [BOB], "references": []},
        receipt_key=received_key(ROOT),
    )
    assert thread is not None
    request_id = "0123456789abcdef0123456789abcdef"
    asked = ApprovalRequested(
        request_id=request_id,
        call_id="c1",
        tool="restart_service",
        arguments={"name": "payments"},
        digest="d",
        reason="stuck",
        approvers=approvers,
    )
    store.append(thread.id, [asked])
    return thread.id, request_id


def approval_outbound(store: Store, thread_id: str, request_id: str, outbox_id: int = 7) -> Outbound:
    thread = store.get_thread(thread_id)
    request = store.get_request(request_id)
    assert thread is not None and request is not None
    return Outbound(outbox_id, thread_id, "approval_request", origin_of(thread), request=request_view(request))


async def test_each_approver_gets_their_own_token_and_a_retry_sends_only_what_did_not_go_out(
    store: Store, smtp: SmtpServer
) -> None:
    email, index = channel(store, smtp)
    thread_id, request_id = waiting_thread(store, [ALICE, CAROL, "U0SLACKONLY"])
    outbound = approval_outbound(store, thread_id, request_id)

    # Alice's goes out; Carol's server says "later" (451): the row is to be retried.
    smtp.refuse(CAROL, 451, "4.2.1 mailbox busy, try later")
    with pytest.raises(RetryableDeliveryError):
        await email.deliver(outbound)
    [alice_first] = smtp.messages
    assert alice_first.rcpt_tos == [ALICE]

    smtp.accept(CAROL)
    refs = await email.deliver(outbound)  # the dispatcher's retry
    by_rcpt = {tuple(m.rcpt_tos): m for m in smtp.messages}
    assert len(smtp.messages) == 3 and sorted(by_rcpt) == [(ALICE,), (BOB,), (CAROL,)]  # Alice's once
    alice, carol, note = by_rcpt[(ALICE,)], by_rcpt[(CAROL,)], by_rcpt[(BOB,)]
    ids = [m.message["Message-ID"] for m in (alice, carol, note)]
    assert refs["message_ids"] == ids and refs["message_id"] == alice.message["Message-ID"]
    assert refs["to"] == [ALICE, CAROL, BOB]

    # Every part is threaded under Bob's mail and marked as automatic.
    for sent in (alice, carol, note):
        assert sent.message["In-Reply-To"] == ROOT and sent.message["References"] == ROOT
        assert sent.message["Subject"] == "Re: payments" and sent.message["Auto-Submitted"] == "auto-replied"
    assert "alice@example.com, carol@example.com" in note.message.get_content()

    # Each token answers for its own approver only (an hour after it was sent, the mailer's clock).
    now = SENT_AT + timedelta(hours=1)
    alice_token = alice.message["Reply-To"].addresses[0].addr_spec
    carol_token = carol.message["Reply-To"].addresses[0].addr_spec
    assert alice_token != carol_token
    claim = read_reply_token(alice_token, SECRET, now, ALICE)
    assert claim is not None and claim.request_id == request_id
    assert read_reply_token(alice_token, SECRET, now, CAROL) is None
    assert read_reply_token(carol_token, SECRET, now, CAROL) is not None

    # The same row again (a crash before it was marked sent) sends nothing new.
    again = await email.deliver(outbound)
    assert again["message_ids"] == ids and len(smtp.messages) == 3
    # The same row in a fresh database would get the very same Message-IDs: they are derived.
    assert ids[0] == email._id(outbound, ALICE)

    # Our Message-IDs are known: a reply naming any of them finds the thread.
    assert await index.conversation([str(carol.message["Message-ID"])]) == ROOT
    assert await index.conversation(["<unknown@x>", ROOT]) == ROOT
    assert await index.conversation(["<unknown@x>"]) is None
    mail_of_thread = await index.thread_mail(thread_id, origin_of(store.get_thread(thread_id)))  # type: ignore[arg-type]
    assert mail_of_thread.message_ids == [ROOT, *ids] and mail_of_thread.last_received == ROOT
    assert mail_of_thread.participants == [BOB]


async def test_a_permanently_refused_approver_does_not_stop_the_others(store: Store, smtp: SmtpServer) -> None:
    email, _ = channel(store, smtp)
    thread_id, request_id = waiting_thread(store, [ALICE, CAROL])
    smtp.refuse(CAROL, 550, "5.1.1 no such user")
    refs = await email.deliver(approval_outbound(store, thread_id, request_id))
    assert sorted(tuple(m.rcpt_tos) for m in smtp.messages) == [(ALICE,), (BOB,)]
    assert "5.1.1" in refs["refused"][0]

    smtp.refuse(ALICE, 550, "5.1.1 no such user")
    smtp.refuse(BOB, 550, "5.1.1 no such user")
    with pytest.raises(PermanentDeliveryError):
        await email.deliver(approval_outbound(store, thread_id, request_id, outbox_id=8))


async def test_a_request_only_slack_people_may_approve_is_not_sent_by_email(store: Store, smtp: SmtpServer) -> None:
    email, _ = channel(store, smtp)
    thread_id, request_id = waiting_thread(store, ["U0SLACKONLY"])
    with pytest.raises(PermanentDeliveryError, match="SIGNOFF_APPROVERS"):
        await email.deliver(approval_outbound(store, thread_id, request_id))
    assert smtp.messages == []


async def test_the_mailbox_progress_only_moves_forward_within_one_uidvalidity(store: Store) -> None:
    state = StoreMailboxState(AsyncStore(store, threads=2))
    box = "imap://agent@127.0.0.1:143/INBOX"
    assert await state.load(box) is None
    await state.save(box, 7, 10)
    await state.save(box, 7, 4)  # a slower replica
    assert await state.load(box) == (7, 10)
    await state.save(box, 8, 3)  # the server renumbered the mailbox
    assert await state.load(box) == (8, 3)


@pytest.mark.parametrize("ttl", [None, timedelta(hours=2)])
async def test_a_reply_address_expires_after_the_token_ttl(
    store: Store, smtp: SmtpServer, ttl: timedelta | None
) -> None:
    """#22.4: reply tokens expire, by default 14 days after the request mail went out."""
    email, _ = channel(store, smtp, **({"token_ttl": ttl} if ttl else {}))
    thread_id, request_id = waiting_thread(store, [ALICE])
    await email.deliver(approval_outbound(store, thread_id, request_id))
    [alice] = [m for m in smtp.messages if m.rcpt_tos == [ALICE]]
    token = alice.message["Reply-To"].addresses[0].addr_spec
    lifetime = ttl or timedelta(days=14)
    claim = read_reply_token(token, SECRET, SENT_AT + lifetime - timedelta(minutes=1), ALICE)
    assert claim is not None and claim.request_id == request_id
    assert claim.expires_at is not None and claim.expires_at - SENT_AT <= lifetime + timedelta(minutes=1)
    assert read_reply_token(token, SECRET, SENT_AT + lifetime + timedelta(minutes=1), ALICE) is None
