"""Standing grants: an approver's "approve, and allow the same for a while", declared per tool. Pure.

A gated tool may allow its approvers to answer a request with a grant, so that later calls inside
the grant's scope run without asking again:

    @agent.tool(needs_approval=True, grants=Grants(thread=timedelta(hours=8), duration=timedelta(hours=1),
                                                   arguments=timedelta(days=7), match=("name",)))
    def restart_service(name: str) -> str: ...

- `thread`: "for this thread": any later call of the tool in the same thread (its `match`ed
  arguments equal to the approved call's), for at most this long;
- `duration`: "for the next <d>": such calls in any thread of the agent, for at most this long;
- `arguments`: "these exact arguments until <date>": calls with exactly the approved arguments, in
  any thread, until a date at most this far ahead.

`match` is the declared argument rule of the first two: the arguments a grant keeps fixed (none:
any arguments). A tool declared `destructive=True` allows no grant unless `grants=` is given, and
no tool allows one by default. A grant obeys the request's policy: one needing two approvers
cannot be granted by one, and the person who asked cannot grant.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

GrantScope = Literal["thread", "duration", "arguments"]
SCOPES: tuple[GrantScope, ...] = ("thread", "duration", "arguments")
SCOPE_LABELS: dict[GrantScope, str] = {
    "thread": "for this thread",
    "duration": "for any thread",
    "arguments": "for these exact arguments",
}


@dataclass(frozen=True)
class Grants:
    """The grants a gated tool allows: each scope's longest duration (None: not allowed)."""

    thread: timedelta | None = None
    duration: timedelta | None = None
    arguments: timedelta | None = None
    match: tuple[str, ...] = ()

    def longest(self, scope: GrantScope) -> timedelta | None:
        return {"thread": self.thread, "duration": self.duration, "arguments": self.arguments}[scope]

    def scopes(self) -> tuple[GrantScope, ...]:
        return tuple(s for s in SCOPES if self.longest(s) is not None)

    def problems(self, parameters: set[str]) -> list[str]:
        found = [
            f"grants: {scope} must be a positive timedelta"
            for scope in SCOPES
            if (d := self.longest(scope)) is not None and (not isinstance(d, timedelta) or d <= timedelta(0))
        ]
        found += [
            f"grants: match names {name!r}, which is not a parameter" for name in self.match if name not in parameters
        ]
        return found


@dataclass(frozen=True)
class GrantTerms:
    """A grant as it will be recorded: its scope and the moment it ends."""

    scope: GrantScope
    until: datetime
    thread_id: str | None  # the thread of a `thread` grant
    digest: str | None  # the exact arguments of an `arguments` grant
    match: dict[str, Any]  # the fixed arguments of `thread` and `duration` grants


class GrantRefused(Exception):
    """A grant asked for that the tool or the request's policy does not allow; nothing was decided."""


def grant_terms(
    grants: Grants | None,
    *,
    tool: str,
    scope: str,
    until: datetime | None,
    now: datetime,
    thread_id: str,
    arguments: dict[str, Any],
    digest: str,
    required: int,
) -> GrantTerms:
    """The terms of a grant asked for with an approval, or GrantRefused saying why not.

    `until` None means the longest the tool allows for the scope."""
    if grants is None or not grants.scopes():
        raise GrantRefused(f"{tool} allows no standing grant: approve this request alone")
    if scope not in SCOPES:
        raise GrantRefused(f"unknown grant scope {scope!r}; use one of {', '.join(grants.scopes())}")
    longest = grants.longest(scope)
    if longest is None:
        raise GrantRefused(
            f"{tool} does not allow a grant {SCOPE_LABELS[scope]}; it allows: "
            + ", ".join(SCOPE_LABELS[s] for s in grants.scopes())
        )
    if required > 1:
        raise GrantRefused(f"this request needs {required} approvers: one person cannot give a standing grant for it")
    end = until if until is not None else now + longest
    if end.tzinfo is None:
        raise GrantRefused("the grant's end must carry a time zone (e.g. 2026-12-31T18:00:00Z)")
    if end <= now:
        raise GrantRefused(f"the grant would end at {end.isoformat()}, which is not in the future")
    if end > now + longest:
        raise GrantRefused(
            f"{tool} allows a grant {SCOPE_LABELS[scope]} for at most {span(longest)}; "
            f"{end.isoformat()} is later than that"
        )
    fixed = {name: arguments.get(name) for name in grants.match} if scope != "arguments" else {}
    return GrantTerms(
        scope=scope,
        until=end,
        thread_id=thread_id if scope == "thread" else None,
        digest=digest if scope == "arguments" else None,
        match=fixed,
    )


def covers(match: dict[str, Any], arguments: dict[str, Any]) -> bool:
    """Whether a grant's fixed arguments hold for a call's arguments."""
    return all(name in arguments and arguments[name] == value for name, value in match.items())


def span(delta: timedelta) -> str:
    """`1 hour`, `7 days`: a duration as people write it."""
    seconds = int(delta.total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds % size == 0 and seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'s' if count > 1 else ''}"
    return f"{seconds} seconds"
