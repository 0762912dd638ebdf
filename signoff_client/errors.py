"""What the client raises, so a caller knows where to catch:

    SignoffError                 anything this client raises
    ├── ApiError                 the server refused the call (status, detail): a wrong token, bad input
    ├── Unreachable              the server could not be reached (network, timeout)
    └── NotApproved              the human did not approve; the wrapped function did not run
        ├── Denied               an approver said no (`comment`, `decided_by`)
        ├── Expired              nobody decided before the request's `expire_after`
        └── TimedOut             the client stopped waiting (`timeout`); the request may still be decided
"""

from __future__ import annotations

from typing import Any


class SignoffError(Exception):
    """Anything this client raises."""


class ApiError(SignoffError):
    def __init__(self, status: int, detail: Any) -> None:
        super().__init__(f"Signoff answered HTTP {status}: {detail}")
        self.status = status
        self.detail = detail


class Unreachable(SignoffError):
    """The server could not be reached."""


class NotApproved(SignoffError):
    """The request ended (or the wait did) without an approval."""

    def __init__(self, message: str, result: Any = None) -> None:
        super().__init__(message)
        self.result = result


class Denied(NotApproved):
    def __init__(self, result: Any) -> None:
        comment = getattr(result, "comment", "") or ""
        by = getattr(result, "decided_by", None) or "an approver"
        super().__init__(f"denied by {by}" + (f": {comment}" if comment else ""), result)
        self.comment = comment
        self.decided_by = by


class Expired(NotApproved):
    def __init__(self, result: Any) -> None:
        super().__init__(f"request {getattr(result, 'id', '?')} expired: nobody decided in time", result)


class TimedOut(NotApproved):
    def __init__(self, result: Any, seconds: float) -> None:
        super().__init__(
            f"no decision on request {getattr(result, 'id', '?')} after {seconds:g}s; it is still pending and may "
            "still be decided",
            result,
        )
        self.seconds = seconds
