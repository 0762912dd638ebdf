"""The statuses and kinds stored in the tables, as names rather than strings explained in comments.

They are `StrEnum`s: each member is its string, so rows, JSON and the HTTP API read the same as
before, and a comparison with a plain string still holds.
"""

from __future__ import annotations

from enum import StrEnum


class ThreadStatus(StrEnum):
    """Derived from the thread's events (`agent.thread.status`), kept on the row for queries."""

    RUNNING = "running"
    WAITING = "waiting"
    DONE = "done"
    FAILED = "failed"


class RequestKind(StrEnum):
    APPROVAL = "approval"
    QUESTION = "question"


class RequestStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    DENIED = "denied"
    ANSWERED = "answered"
    EXPIRED = "expired"  # nobody answered before its deadline (`request_expired`)


class OutboxStatus(StrEnum):
    PENDING = "pending"  # to send, now or at next_attempt_at
    SENT = "sent"
    FAILED = "failed"  # given up; the thread has a delivery_failed note


class DecisionStatus(StrEnum):
    """What became of a human's decision or answer (`Store.resolve`)."""

    ACCEPTED = "accepted"
    NOT_ALLOWED = "not_allowed"
    ALREADY_DECIDED = "already_decided"
    UNKNOWN = "unknown"
    INVALID = "invalid"  # an answer to an approval, or a decision on a question
    DUPLICATE = "duplicate"  # the same delivery seen before
    CHANGED = "changed"  # what the human was shown is not what would run
    SELF_APPROVAL = "self_approval"  # the person who asked may not approve their own request
    ALREADY_APPROVED = "already_approved"  # this person's approval already counts toward N of M
    PROGRESS = "progress"  # an approval counted toward N of M; the request still waits for more
    GRANT_REFUSED = "grant_refused"  # a standing grant asked for with an approval that cannot be given
    NOT_EDITABLE = "not_editable"  # an edit of a request that takes none (the tool opted out, or approvals counted)
    NOT_AN_OPTION = "not_an_option"  # an answer that is none of a closed question's options


# The `agent` of a thread that holds one standalone human request (`POST /api/approvals`,
# `/api/questions`): no agent runs on it; its status is `waiting`, then `done` once decided.
STANDALONE_AGENT = "signoff:standalone"

# The `agent` of a thread whose agent lives elsewhere (SIGNOFF_AGENT=webhook): what people send is
# posted to SIGNOFF_WEBHOOK_URL and the thread waits on that agent; no worker ever steps it.
WEBHOOK_AGENT = "signoff:webhook"
