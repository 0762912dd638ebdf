"""HumanLayer's shapes of Signoff's standalone requests: a `FunctionCall` (an approval) and a
`HumanContact` (a question), as the SDKs' models (`humanlayer.core.models`) read them, and the
completion webhook's payload (`humanlayer.core.models_agent_webhook`)."""

from __future__ import annotations

from typing import Any

from storage.models import RequestRow, StandaloneRow


def _at(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def function_call_json(standalone: StandaloneRow, request: RequestRow) -> dict[str, Any]:
    external = standalone.external or {}
    decided = request.status in ("approved", "denied", "expired")
    comment: str | None = request.comment or None
    if request.status == "expired":
        comment = "expired: nobody decided in time"
    elif request.status == "denied" and not comment:
        comment = "denied"  # the SDK needs a comment with a denial
    card = request.delivery.get("slack:approval_request") or {}
    return {
        "run_id": external.get("run_id"),
        "call_id": external.get("call_id"),
        "spec": external.get("spec"),
        "status": {
            "requested_at": _at(request.created_at),
            "responded_at": _at(request.decided_at) if decided else None,
            "approved": (request.status == "approved") if decided else None,
            "comment": comment if decided else None,
            "reject_option_name": request.deny_option if decided else None,
            "slack_message_ts": card.get("ts"),
        },
    }


def human_contact_json(standalone: StandaloneRow, request: RequestRow) -> dict[str, Any]:
    external = standalone.external or {}
    answered = request.status == "answered"
    return {
        "run_id": external.get("run_id"),
        "call_id": external.get("call_id"),
        "spec": external.get("spec"),
        "status": {
            "requested_at": _at(request.created_at),
            "responded_at": _at(request.decided_at) if answered else None,
            "response": request.comment if answered else None,
            "response_option_name": _option_name(external.get("spec"), request) if answered else None,
        },
    }


def _option_name(spec: Any, request: RequestRow) -> str | None:
    """The `name` of the response option the answer picked (answers that pick one are its text)."""
    given = spec.get("response_options") if isinstance(spec, dict) else None
    for option in given if isinstance(given, list) else []:
        if not isinstance(option, dict):
            continue
        title, name = option.get("title"), option.get("name")
        shown = title if isinstance(title, str) and title.strip() else name
        if isinstance(shown, str) and shown.strip()[:200] == request.comment:
            return name if isinstance(name, str) else None
    return None


def completion_json(standalone: StandaloneRow, request: RequestRow) -> dict[str, Any]:
    """`function_call.completed` / `human_contact.completed`, as posted to SIGNOFF_WEBHOOK_URL."""
    if request.kind == "approval":
        return {"type": "function_call.completed", "event": function_call_json(standalone, request), "is_test": False}
    return {"type": "human_contact.completed", "event": human_contact_json(standalone, request), "is_test": False}
