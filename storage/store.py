"""The store: every read and write Signoff makes, one transaction per method.

It is the aggregates' methods under one name, so callers hold one object:

    threads.py     threads and their events (start, append, read)
    requests.py    human requests and the decision that wins
    receipts.py    inbound deliveries recorded once (Slack event ids, Message-IDs)
    leases.py      which worker advances which thread
    outbox.py      messages for people, sent after the commit that caused them
    mailboxes.py   the IMAP watcher's progress
    people.py      the people directory and their personal API tokens
    audit.py       every request event across threads, for the audit
    web_signins.py sign-ins to the web inbox: links, their limits, sessions
    inbox.py       the web inbox's lists: requests and threads, filtered and paged
    standalone.py  human requests made through the API with no agent (their creator, deadline, callback)
    home_tabs.py   Slack App Home tabs due for publishing, marked with the request changes they show

Appending events also maintains the tables derived from them (the thread's status, the human
requests) and writes the outbox rows they cause, atomically (`event_log.py`). The queue of Slack
mentions acknowledged but not yet built into threads is `intake.py`.
"""

from __future__ import annotations

from storage._sql import StoredEvent
from storage.audit import AuditLog
from storage.audit_chain import AuditChain
from storage.db import Database
from storage.event_log import OutboxDraft
from storage.home_tabs import HomeTabs
from storage.inbox import Inbox
from storage.leases import Leases, worker_identity
from storage.mailboxes import Mailboxes
from storage.outbox import Outbox
from storage.people import People
from storage.receipts import Receipts
from storage.requests import DecisionResult, Requests
from storage.standalone import Standalone
from storage.threads import Threads, ThreadSnapshot, new_thread_id
from storage.web_signins import WebSignins

__all__ = [
    "DecisionResult",
    "OutboxDraft",
    "Store",
    "StoredEvent",
    "ThreadSnapshot",
    "new_thread_id",
    "status_counts",
    "worker_identity",
]


class Store(
    Threads,
    Requests,
    Receipts,
    Leases,
    Outbox,
    Mailboxes,
    People,
    AuditLog,
    AuditChain,
    WebSignins,
    Inbox,
    Standalone,
    HomeTabs,
):
    def __init__(self, db: Database) -> None:
        self.db = db


def status_counts(store: Store) -> dict[str, int]:
    """Threads by status, and `outbox`: messages not yet sent."""
    return {**store.status_counts(), "outbox": store.outbox_backlog()}
