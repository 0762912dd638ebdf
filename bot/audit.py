"""The audit: every request, decision (with who and how it was proven), progress and other request
event, and each message a schedule or a webhook sent a thread, as flat records, filtered and
exported as JSON Lines or CSV. Shared by `signoff audit` and `GET /api/audit`.

Records are derived from the threads' append-only events (`storage/audit.py`). Any event that
carries a `request_id` is a record, whatever its type: kinds of request events added later (reminders,
escalations, expiry, edits) appear without a change here, their fields in `event`.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from agent.events import EVENT_TYPES, dump_event
from storage.audit import AuditEvent
from storage.audit_chain import is_audited
from storage.people import names_of
from storage.store import Store

Format = Literal["jsonl", "csv"]
COLUMNS = (
    "at",
    "thread_id",
    "seq",
    "type",
    "request_id",
    "tool",
    "requested_by",
    "by",
    "person",
    "method",
    "channel",
    "outcome",
    "digest",
    "rule",
    "event",
)
DURATION = re.compile(r"(\d+)\s*([dhm])")
UNITS = {"d": "days", "h": "hours", "m": "minutes"}


class AuditFilterError(ValueError):
    """A filter that cannot be read (a bad --since) or names nobody (an unknown --person)."""


@dataclass(frozen=True)
class AuditFilter:
    since: datetime | None = None
    person: str | None = None
    tool: str | None = None
    thread_id: str | None = None
    limit: int = 10_000
    types: frozenset[str] | None = None  # only these event types (`parse_types`)


def parse_since(value: str | None, now: datetime) -> datetime | None:
    """`7d`, `12h`, `30m` ago, or an ISO 8601 date or time (UTC unless it says)."""
    if not value:
        return None
    value = value.strip()
    match = DURATION.fullmatch(value.lower())
    if match:
        return now - timedelta(**{UNITS[match.group(2)]: int(match.group(1))})
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise AuditFilterError(
            f"since={value!r}: give a duration back from now (7d, 12h, 30m) or a date or time (2026-12-01, "
            "2026-12-01T09:00Z)"
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def parse_types(value: str | None) -> frozenset[str] | None:
    """`request_reminded,request_escalated`: event types, comma-separated; AuditFilterError names
    the ones that are not."""
    if not value or not value.strip():
        return None
    types = frozenset(t.strip() for t in value.split(",") if t.strip())
    unknown = sorted(types - set(EVENT_TYPES))
    if unknown:
        raise AuditFilterError(f"type={','.join(unknown)}: not an event type; one of {', '.join(EVENT_TYPES)}")
    return types


def records(store: Store, wanted: AuditFilter) -> list[dict[str, Any]]:
    """The audit records matching `wanted`, oldest first (runs on a storage thread: a few reads)."""
    person_names: set[str] | None = None
    if wanted.person:
        person = store.person_for(wanted.person)
        if person is None:
            raise AuditFilterError(
                f"person={wanted.person!r}: nobody by that name in the directory (signoff people list)"
            )
        person_names = {n.lower() for n in names_of(person)}
    found = [
        e
        for e in store.audit_events(since=wanted.since, thread_id=wanted.thread_id, limit=wanted.limit)
        if _is_request_event(e)
    ]
    facts = store.request_facts([str(getattr(e.event, "request_id", "")) for e in found])
    requesters = store.thread_requesters([e.thread_id for e in found])
    out = []
    for stored in found:
        record = _record(stored, facts, requesters)
        if wanted.tool and record["tool"] != wanted.tool:
            continue
        if wanted.types is not None and record["type"] not in wanted.types:
            continue
        if person_names is not None and not _involves(record, person_names):
            continue
        out.append(record)
    return out


def render(rows: Iterable[dict[str, Any]], form: Format) -> Iterator[str]:
    """JSON Lines (one object a line) or CSV (a header, then one line a record; `event` as JSON)."""
    if form == "jsonl":
        for row in rows:
            yield json.dumps(row, separators=(",", ":"), ensure_ascii=False) + "\n"
        return
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({**row, "event": json.dumps(row["event"], separators=(",", ":"), ensure_ascii=False)})
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    rest = buffer.getvalue()
    if rest:
        yield rest


def _is_request_event(stored: AuditEvent) -> bool:
    return is_audited(stored.event)


def _record(stored: AuditEvent, facts: dict[str, Any], requesters: dict[str, str]) -> dict[str, Any]:
    data = dump_event(stored.event)
    request_id = data.get("request_id")
    fact = facts.get(request_id) if request_id else None
    identity = data.get("identity") or {}
    outcome = None
    if data["type"] == "approval_decided":
        outcome = "approved" if data.get("approved") else "denied"
    elif data["type"] == "question_answered":
        outcome = "answered"
    elif data["type"] == "approval_progress":
        outcome = f"{data.get('count')} of {data.get('required')}"
    elif data["type"] == "grant_used":
        outcome = f"allowed by {data.get('by')}'s grant {data.get('grant_id')}, until {data.get('until')}"
    elif data["type"] == "grant_given":
        outcome = f"grant {data.get('grant_id')} ({data.get('scope')}) until {data.get('until')}"
    elif data["type"] == "request_expired":
        outcome = "expired"
    elif data["type"] == "request_reminded":
        outcome = "reminded " + ", ".join(data.get("awaiting") or [])
    elif data["type"] == "request_escalated":
        outcome = "escalated to " + ", ".join(data.get("to") or [])
    elif data["type"] == "approval_edited":  # both versions are in `event`: previous_arguments, arguments
        outcome = "edited"
    elif data["type"] == "human_message" and data.get("trigger"):  # a schedule fired, a webhook delivered
        outcome = f"{'started' if stored.seq == 1 else 'continued'} by {data['trigger']}"
    return {
        "at": stored.at.isoformat(),
        "thread_id": stored.thread_id,
        "seq": stored.seq,
        "type": data["type"],
        "request_id": request_id,
        "tool": data.get("tool") or (fact.tool if fact else None),
        "requested_by": fact.requested_by if fact else requesters.get(stored.thread_id, ""),
        "by": data.get("by"),
        "person": identity.get("person"),
        "method": identity.get("method"),
        "channel": identity.get("channel"),
        "outcome": outcome,
        "digest": data.get("digest"),
        "rule": data.get("rule"),
        "event": data,
    }


def _involves(record: dict[str, Any], names: set[str]) -> bool:
    """Whether the person (any of their names) acted in the record or asked for its request."""
    for key in ("person", "by", "requested_by"):
        value = record.get(key)
        if isinstance(value, str) and value.lower() in names:
            return True
    return False
