"""Case 4: the database is unreachable for a while. The bot runs on PostgreSQL and the test cuts its
database for real (new connections refused, open ones dropped; `set_reachable`).

Slack: every event delivered during the outage, and every retry of it during the outage, is answered
non-2xx so Slack keeps retrying; once the database is back, the retries (same event_id, with
X-Slack-Retry-Num, some sent twice) are recorded once and every thread completes.
IMAP: mail delivered during the outage is not flagged \\Seen and the saved last UID does not move
past it; afterwards each message becomes exactly one thread with one reply.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from pathlib import Path
from typing import Any

import psycopg
import pytest
from imapclient import IMAPClient

from tests.fault.conftest import record
from tests.support.databases import set_reachable
from tests.support.dovecot import DovecotServer
from tests.support.email_signoff import (
    AGENT,
    AGENT_PASSWORD,
    BOB,
    WAIT,
    EmailSignoff,
    body_of,
    email_signoff,
    mail,
    sent_to,
)
from tests.support.fake_model import FakeModelServer, Response, text
from tests.support.fake_slack import FakeSlack
from tests.support.signoff_process import wait_until
from tests.support.slack_requests import app_mention
from tests.support.slack_signoff import BOB as SLACK_BOB
from tests.support.slack_signoff import posted, slack_signoff
from tests.support.smtp_server import SmtpServer

PROBE = re.compile(r"probe-[a-z0-9]+")
OUTAGE_ATTEMPTS = 2  # how many times the IMAP watcher must have failed to record during the outage
# What the watcher logs when it could not record a mail, or could not read its saved state.
NOT_RECORDED = ("on_message failed", "session ended: DatabaseUnavailable")


def answer_the_probe(body: dict[str, Any]) -> Response:
    """The model answers each thread with the probe word of the human message that started it."""
    users = [m for m in body["messages"] if m["role"] == "user"]
    found = PROBE.search(str(users[-1]["content"]))
    return text(f"answer to {found.group(0) if found else '?'}")


@pytest.fixture
def probe_model(model: FakeModelServer) -> FakeModelServer:
    model.default = answer_the_probe
    return model


def human_probes(threads: list[dict[str, Any]]) -> Counter[str]:
    return Counter(
        m.group(0)
        for thread in threads
        for event in thread["events"]
        if event["type"] == "human_message" and (m := PROBE.search(event["text"]))
    )


# --- Slack ------------------------------------------------------------------------------------------


def test_slack_events_refused_during_the_outage_are_heard_once_on_retry(
    probe_model: FakeModelServer, database_url: str, tmp_path: Path
) -> None:
    before, during, after = ["probe-b1", "probe-b2"], [f"probe-d{i}" for i in range(1, 5)], ["probe-a1"]
    with FakeSlack() as fake, slack_signoff(fake, probe_model, tmp_path, SIGNOFF_DATABASE_URL=database_url) as bot:
        mentions = {
            p: app_mention(f"<@UBOT> {p} status?", user=SLACK_BOB, channel="C4") for p in before + during + after
        }

        def deliver(probe: str, retry_num: int | None = None) -> int:
            return bot.event(mentions[probe], f"Ev{probe}", retry_num=retry_num).status_code

        assert [deliver(p) for p in before] == [200, 200]
        wait_until(lambda: len(posted(fake)) == 2, message="the replies before the outage")

        set_reachable(database_url, False)
        started = time.monotonic()
        try:
            refused = [deliver(p) for p in during] + [deliver(p, retry_num=1) for p in during]
        finally:
            set_reachable(database_url, True)
        outage = time.monotonic() - started
        assert all(code >= 500 for code in refused), refused  # Slack retries anything but a 2xx

        # Slack's next retries; the first two are sent twice more (our 200 "lost" on the way back).
        retried = [wait_until(lambda p=p: deliver(p, retry_num=2) == 200, message=f"{p} accepted") for p in during]
        repeated = [deliver(p, retry_num=3) for p in during[:2]]
        assert repeated == [200, 200]
        assert deliver(after[0]) == 200

        wanted = {f"answer to {p}" for p in before + during + after}
        wait_until(lambda: {m["text"] for _, m in posted(fake)} >= wanted, timeout=WAIT, message="every reply")
        threads = [bot.wait_status(t["id"], "done") for t in bot.threads()]
        replies = Counter(m["text"] for _, m in posted(fake))
        assert fake.errors == []

    probes = human_probes(threads)
    assert probes == Counter({p: 1 for p in before + during + after}), probes
    assert all([e["type"] for e in t["events"]] == ["human_message", "agent_reply"] for t in threads)
    assert replies == Counter(wanted), replies
    duplicates = sum(n - 1 for n in probes.values()) + sum(n - 1 for n in replies.values())
    record(
        f"case 4 Slack: outage {outage:.1f}s; {len(during)} events during it, {len(refused)} deliveries answered "
        f"5xx (0 accepted); after it {len(retried)} retries + {len(repeated)} repeated retries answered 200; "
        f"{len(mentions)} events in = {len(threads)} threads done = {len(replies)} replies; "
        f"duplicates {duplicates}, losses {len(wanted) - len(replies)}"
    )


# --- IMAP -------------------------------------------------------------------------------------------


def mailbox_flags(dovecot: DovecotServer) -> dict[int, bool]:
    """UID -> flagged \\Seen, read without changing anything."""
    with IMAPClient(dovecot.host, port=dovecot.imap_port, ssl=False) as client:
        client.login(AGENT, AGENT_PASSWORD)
        client.select_folder("INBOX", readonly=True)
        fetched = client.fetch(client.search(["ALL"]), ["FLAGS"])
        return {uid: b"\\Seen" in data[b"FLAGS"] for uid, data in fetched.items()}


def saved_last_uid(observer: psycopg.Connection[Any]) -> int | None:
    row = observer.execute("SELECT last_uid FROM mailbox_state").fetchone()
    return int(row[0]) if row else None


def failed_attempts(bot: EmailSignoff) -> int:
    logs = bot.process.logs()
    return sum(logs.count(line) for line in NOT_RECORDED)


def send(bot: EmailSignoff, probe: str) -> None:
    bot.send(mail(BOB, f"{probe} please", f"{probe}: is the payments worker up?", message_id=f"<{probe}@corp.example>"))


def test_mail_delivered_during_the_outage_stays_unread_until_it_is_one_thread(
    dovecot: DovecotServer, smtp: SmtpServer, probe_model: FakeModelServer, database_url: str, tmp_path: Path
) -> None:
    before, during = ["probe-m1"], [f"probe-o{i}" for i in range(1, 4)]
    # Polling would take ten minutes: the watcher hears each mail through IDLE.
    with email_signoff(
        dovecot, smtp, probe_model, tmp_path, SIGNOFF_DATABASE_URL=database_url, SIGNOFF_IMAP_POLL_INTERVAL="600"
    ) as bot:

        def replies() -> Counter[str]:
            return Counter(body_of(m).strip() for m in bot.sent(sent_to(BOB)))

        send(bot, before[0])
        wait_until(lambda: replies()["answer to probe-m1"] == 1, timeout=WAIT, message="the reply before the outage")
        first_uid = max(mailbox_flags(dovecot))

        # The test's own connection, opened before the cut and spared by it, reads the saved state.
        with psycopg.connect(database_url, autocommit=True) as observer:
            wait_until(lambda: saved_last_uid(observer) == first_uid, message="the first UID saved")
            failures_before = failed_attempts(bot)
            set_reachable(database_url, False, spare_pid=observer.info.backend_pid)
            started = time.monotonic()
            try:
                for probe in during:
                    send(bot, probe)
                wait_until(
                    lambda: failed_attempts(bot) - failures_before >= OUTAGE_ATTEMPTS,
                    timeout=WAIT,
                    message=f"{OUTAGE_ATTEMPTS} failed attempts to record the mail",
                )
                flags_during = mailbox_flags(dovecot)
                last_uid_during = saved_last_uid(observer)
            finally:
                set_reachable(database_url, True)
            outage = time.monotonic() - started
            attempts = failed_attempts(bot) - failures_before

            wanted = {f"answer to {p}" for p in before + during}
            wait_until(lambda: set(replies()) >= wanted, timeout=WAIT, message="a reply to every mail")
            recovered = time.monotonic() - started - outage
            flags_after = mailbox_flags(dovecot)
            wait_until(lambda: saved_last_uid(observer) == max(flags_after), message="the last UID saved")
        threads = [bot.thread(t["id"]) for t in bot.threads()]
        sent = replies()

    new_uids = sorted(uid for uid in flags_during if uid > first_uid)
    assert len(new_uids) == len(during)
    assert not any(flags_during[uid] for uid in new_uids), flags_during
    assert last_uid_during == first_uid
    assert all(flags_after.values()), flags_after
    probes = human_probes(threads)
    assert probes == Counter({p: 1 for p in before + during}), probes
    assert sent == Counter(wanted), sent
    duplicates = sum(n - 1 for n in probes.values()) + sum(n - 1 for n in sent.values())
    record(
        f"case 4 IMAP: outage {outage:.1f}s; {len(during)} mails delivered during it, {attempts} failed attempts "
        f"to record, 0 of {len(new_uids)} flagged \\Seen, saved last UID held at {last_uid_during}; "
        f"{recovered:.1f}s after it {len(before) + len(during)} mails in = {len(threads)} threads = {len(sent)} "
        f"replies; duplicates {duplicates}, losses {len(wanted) - len(sent)}"
    )
