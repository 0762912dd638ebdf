"""A small client for Signoff's approvals and questions API, for programs that are not Signoff agents.

    from signoff_client import Signoff, Denied

    signoff = Signoff("http://127.0.0.1:8080", token="...")

    @signoff.require_approval(approvers=["alice@example.com"])
    def drop_table(name: str) -> None: ...

    drop_table("users")   # asks Alice, waits, runs with what she approved, or raises Denied

No dependency beyond the standard library (urllib; the async methods run it on a thread).
"""

from signoff_client.client import Answer, Approval, Signoff
from signoff_client.errors import ApiError, Denied, Expired, NotApproved, SignoffError, TimedOut, Unreachable

__all__ = [
    "Answer",
    "ApiError",
    "Approval",
    "Denied",
    "Expired",
    "NotApproved",
    "Signoff",
    "SignoffError",
    "TimedOut",
    "Unreachable",
]
