"""The people the policy scenarios know, written to `signoff serve`'s database before it starts
(the way `signoff people add` and `signoff tokens create` write them)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from storage import migrate
from storage.db import Database
from storage.models import utcnow
from storage.store import Store

ROOT = Path(__file__).resolve().parents[2]
# `signoff serve` settings that load tests/support/policy_agent.py (the repo root on its path).
POLICY_AGENT = {
    "SIGNOFF_AGENT": "tests.support.policy_agent:agent",
    "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
}
PEOPLE = {
    "alice": (["U0ALICE"], ["alice@example.com"]),
    "bob": (["U0BOB"], ["bob@corp.example"]),
    "carol": (["U0CAROL"], ["carol@example.com"]),
}


@dataclass
class Directory:
    store: Store
    tokens: dict[str, str]  # a valid personal token per person
    revoked: str  # alice's revoked token
    expired: str  # alice's expired token


def directory(database_url: str) -> Directory:
    db = Database(database_url)
    migrate.upgrade(db)
    store = Store(db)
    tokens = {}
    for name, (slack_ids, emails) in PEOPLE.items():
        store.add_person(name, slack_ids=slack_ids, emails=emails)
        tokens[name], _row = store.create_token(name, expires_at=utcnow() + timedelta(days=1))
    revoked, row = store.create_token("alice", expires_at=None)
    store.revoke_token(row.id)
    expired, _row = store.create_token("alice", expires_at=utcnow() - timedelta(seconds=1))
    return Directory(store, tokens, revoked, expired)
