"""Conversions from storage rows to what channels and the HTTP API show."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC
from typing import Any

from agent import edits
from agent.events import DenyOption, dump_event
from agent.grants import SCOPE_LABELS
from bot.identity import expand
from channels.base import DenyChoice, EditField, HumanRequestView, Origin
from storage.models import GrantRow, RequestRow, RequestTimerRow, StandaloneRow, ThreadRow
from storage.people_models import PersonRow
from storage.store import StoredEvent


def request_view(
    row: RequestRow, people: Mapping[str, PersonRow] | None = None, grant: GrantRow | None = None
) -> HumanRequestView:
    """The request as channels see it; `people` (the directory's rows for its allowed names) turns
    each person named there into every name they go by (`bot.identity.expand`); `grant` is the
    standing grant given with its approval, said with the outcome."""
    return HumanRequestView(
        id=row.id,
        thread_id=row.thread_id,
        kind="approval" if row.kind == "approval" else "question",
        status=row.status,
        tool=row.tool,
        arguments=dict(row.arguments),
        reason=row.reason,
        question=row.question,
        options=list(row.options),
        allowed=expand(row.allowed, people or {}),
        requested_by=row.requested_by,
        decided_by=row.decided_by,
        comment=row.comment,
        delivery=dict(row.delivery),
        decided_at=row.decided_at,
        required=row.required or 1,
        approved_by=[str(a.get("person") or a.get("by") or "") for a in row.approvals or []],
        rule=row.rule or "",
        edit_fields=edit_fields(row),
        allow_free_text=row.allow_free_text is not False,
        granted=granted_line(grant) if grant is not None else "",
        deny_options=deny_choices(row),
    )


def deny_choices(row: RequestRow) -> tuple[DenyChoice, ...]:
    """A pending approval's named ways to deny (a denial with none takes its comment as typed)."""
    if row.kind != "approval":
        return ()
    options = [DenyOption.model_validate(o) for o in row.deny_options or []]
    return tuple(DenyChoice(o.name, o.label, o.comment if o.ask else o.comment or o.label, o.ask) for o in options)


def granted_line(grant: GrantRow) -> str:
    """What a standing grant allows, as people read it beside the approval that gave it."""
    scope = SCOPE_LABELS.get(grant.scope, grant.scope)  # type: ignore[call-overload]
    until = grant.expires_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"With standing grant {grant.id}, {grant.given_by} also allowed the same calls {scope} until {until}."


def edit_fields(row: RequestRow) -> list[EditField]:
    """The arguments an approver may edit, prefilled with what would run now (none: no edits)."""
    if not row.edit_schema or row.kind != "approval":
        return []
    return [
        EditField(
            name=f.name,
            kind=f.kind,
            required=f.required,
            value=edits.as_text(row.arguments[f.name]) if f.name in row.arguments else "",
            description=f.description,
            choices=f.choices,
            nullable=f.nullable,
        )
        for f in edits.fields(row.edit_schema)
    ]


def chosen(row: RequestRow) -> str | None:
    """The option an answered question's answer is (answers that pick one are recorded as it)."""
    return row.comment if row.status == "answered" and row.comment in (row.options or []) else None


def origin_of(row: ThreadRow) -> Origin:
    return Origin(channel=row.origin_channel, key=row.origin_key or row.id, data=dict(row.origin_data))


def thread_json(row: ThreadRow, events: list[StoredEvent] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": row.id,
        "status": row.status,
        "agent": row.agent,
        "channel": row.origin_channel,
        "requested_by": row.requested_by,
        "created_at": row.created_at.isoformat(),
        "updated_at": row.updated_at.isoformat(),
    }
    if events is not None:
        body["events"] = [{"seq": e.seq, "at": e.created_at.isoformat(), **dump_event(e.event)} for e in events]
    return body


def request_json(row: RequestRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "thread_id": row.thread_id,
        "kind": row.kind,
        "status": row.status,
        "tool": row.tool,
        "arguments": row.arguments,
        "digest": row.digest,
        "reason": row.reason,
        "question": row.question,
        "options": row.options,
        "allowed": row.allowed,
        "requested_by": row.requested_by,
        "decided_by": row.decided_by,
        "comment": row.comment,
        "created_at": row.created_at.isoformat(),
        "decided_at": row.decided_at.isoformat() if row.decided_at else None,
        # The policy: distinct approvals needed, whether the person who asked may approve, the rule
        # that matched; `approvals` counted so far (who, as which person, when), `progress` "1 of 2".
        "required": row.required or 1,
        "no_self_approval": bool(row.no_self_approval),
        "rule": row.rule or "",
        "approvals": [{k: a.get(k) for k in ("by", "person", "at")} for a in row.approvals or []],
        "progress": f"{len(row.approvals or [])} of {row.required or 1}",
        # Edits: whether an approver may change the arguments now (`arguments` on the decision: while
        # it is pending and before an approval counts for them), and the schema they must fit; a
        # question's options, whether other answers are taken, the pick.
        "editable": bool(row.edit_schema) and row.kind == "approval" and row.status == "pending" and not row.approvals,
        "edit_schema": row.edit_schema if row.kind == "approval" else None,
        "allow_free_text": row.allow_free_text is not False,
        "choice": chosen(row),
    }


def clock_json(timers: Sequence[RequestTimerRow]) -> list[dict[str, Any]]:
    """A request's timers: when each is due, and when it fired and what it did (`fired`; `decided`:
    the request was no longer pending; `superseded`: its expiry was due as well)."""
    return [
        {
            "kind": t.kind,
            "due_at": t.due_at.isoformat(),
            "fired_at": t.fired_at.isoformat() if t.fired_at else None,
            "outcome": t.outcome or None,
            **({"escalate_to": list(t.escalate_to)} if t.kind == "escalate" else {}),
        }
        for t in timers
    ]


def standalone_json(standalone: StandaloneRow, row: RequestRow) -> dict[str, Any]:
    """A request made through /api/approvals or /api/questions, as its creator reads it (and as its
    callback posts it): for an approval, `arguments` are what was approved, bound by `digest`."""
    body: dict[str, Any] = {
        "id": row.id,
        "thread_id": row.thread_id,
        "kind": row.kind,
        "status": row.status,
        "decided_by": row.decided_by,
        "comment": row.comment if row.kind == "approval" else "",
        "created_at": row.created_at.isoformat(),
        "decided_at": row.decided_at.isoformat() if row.decided_at else None,
        "expires_at": standalone.expires_at.isoformat() if standalone.expires_at else None,
        "channels": list(standalone.channels),
        "requested_by": row.requested_by,
    }
    if row.kind == "approval":
        body.update(
            action=row.tool,
            arguments=row.arguments,
            digest=row.digest,
            reason=row.reason,
            approvers=row.allowed,
            editable=bool(row.edit_schema),
            required=row.required or 1,
            approved_by=[str(a.get("person") or a.get("by") or "") for a in row.approvals or []],
        )
    else:
        answer = row.comment if row.status == "answered" else None
        body.update(
            question=row.question,
            options=row.options,
            answerers=row.allowed,
            answer=answer,
            allow_free_text=row.allow_free_text is not False,
            choice=chosen(row),
        )
    return body
