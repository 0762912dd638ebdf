"""Human requests as the channels are given them (`HumanRequestView`), for tests that render them:
a pending approval or question with plain defaults, and only what a test is about given."""

from __future__ import annotations

from typing import Any

from channels.base import HumanRequestView


def approval_view(**fields: Any) -> HumanRequestView:
    """A pending approval of restart_service(name=payments) that U0BOB asked for and U0ALICE may give."""
    defaults: dict[str, Any] = {
        "id": "req-1",
        "thread_id": "thr-1",
        "kind": "approval",
        "status": "pending",
        "tool": "restart_service",
        "arguments": {"name": "payments"},
        "reason": "",
        "question": "",
        "options": [],
        "allowed": ["U0ALICE"],
        "requested_by": "U0BOB",
    }
    return HumanRequestView(**{**defaults, **fields})


def question_view(**fields: Any) -> HumanRequestView:
    """A pending question, "which one?", that U0BOB's thread asks and anyone may answer."""
    return approval_view(
        **{"kind": "question", "tool": None, "arguments": {}, "question": "which one?", "allowed": [], **fields}
    )
