"""What a person is told when their decision or answer decided nothing, the same on every surface
(the Slack ephemeral, the email note, the API's error, the CLI's message), and the progress of an
approval toward N of M."""

from __future__ import annotations

from channels.base import HumanRequestView


def progress(view: HumanRequestView | None) -> str:
    """`approval 1 of 2 recorded (alice); waiting for 1 more`."""
    if view is None:
        return "approval recorded"
    count = len(view.approved_by)
    who = f" ({', '.join(view.approved_by)})" if view.approved_by else ""
    return f"approval {count} of {view.required} recorded{who}; waiting for {view.required - count} more"


def message(status: str, request_id: str, by: str, view: HumanRequestView | None) -> str:
    if status == "self_approval":
        return (
            f"{by} asked for this, and the person who asked may not approve their own request: "
            "someone else must approve it. Nothing was decided."
        )
    if status == "already_approved":
        counted = f" ({len(view.approved_by)} of {view.required})" if view else ""
        return (
            f"{by} already approved this request{counted}; it needs approvals from different people. "
            "Nothing more was recorded."
        )
    texts = {
        "unknown": f"no request {request_id}",
        "invalid": "this request does not take that kind of answer",
        "not_allowed": f"{by} may not answer this request",
        "changed": "this request's arguments do not match what it was created with; it cannot be approved",
        "not_editable": (
            "this request's arguments can no longer be edited (an approval already counts for them, or it takes "
            "no edits); approve or deny them as they are. Nothing was decided."
        ),
        "already_decided": (f"already {view.status} by {view.decided_by}" if view else "already decided"),
    }
    return texts.get(status, status)
