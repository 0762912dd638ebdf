"""The clock of a human request: when it reminds, escalates and expires. Pure: no I/O, no clock.

Declared per agent (`Agent(remind_after="4h", expire_after="1d")`), per gated tool
(`@agent.tool(needs_approval=True, escalate_after="2h", escalate_to=["carol"])`) and per call by a
policy's `Rule`; a field left None keeps the one below it (rule, then tool, then agent). Questions
(`ask_human`, and the questions Signoff asks itself) take the agent's.

A duration is seconds (int or float), a `timedelta`, a short string (`90s`, `15m`, `4h`, `1d`,
`1h30m`) or ISO 8601 (`PT30M`, `P1D`): more than 0 and at most 90 days. The request's event carries
the durations in seconds; storage turns them into durable timers when it records the request.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TypedDict

from pydantic import TypeAdapter, ValidationError

Duration = timedelta | int | float | str
MAX_DURATION = timedelta(days=90)
MAX_ESCALATE_TO = 50
_SHORT = re.compile(r"(?:(\d{1,7})d)?(?:(\d{1,7})h)?(?:(\d{1,9})m)?(?:(\d{1,10})s)?")
_ISO = TypeAdapter(timedelta)


class ClockFields(TypedDict):
    """A request event's clock: seconds from when it is recorded (None: never), and who is escalated to."""

    remind_after: float | None
    escalate_after: float | None
    escalate_to: list[str]
    expire_after: float | None


class DurationError(ValueError):
    """A duration that is not one, or is not more than 0 and at most 90 days."""


def parse_duration(value: Duration, what: str) -> timedelta:
    """`value` as a timedelta; DurationError names `what` and says what is accepted."""
    accepted = "give seconds (e.g. 3600), a timedelta, '15m', '4h', '1d', '1h30m' or ISO 8601 ('PT30M')"
    if isinstance(value, bool):
        raise DurationError(f"{what}={value!r} is not a duration: {accepted}")
    if isinstance(value, timedelta):
        duration = value
    elif isinstance(value, (int, float)):
        if not math.isfinite(value) or abs(value) > MAX_DURATION.total_seconds() * 10:
            raise DurationError(f"{what}={value!r} is not a usable duration: more than 0 and at most 90 days")
        duration = timedelta(seconds=value)
    elif isinstance(value, str):
        duration = _parse_text(value.strip()[:64], what, accepted)
    else:
        raise DurationError(f"{what}={value!r} is not a duration: {accepted}")
    if duration <= timedelta(0) or duration > MAX_DURATION:
        raise DurationError(f"{what}={value!r}: a duration must be more than 0 and at most 90 days")
    return duration


def _parse_text(text: str, what: str, accepted: str) -> timedelta:
    match = _SHORT.fullmatch(text.lower())
    if text and match and any(match.groups()):
        days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
        if days > 10 * 90:
            raise DurationError(f"{what}={text!r}: a duration must be more than 0 and at most 90 days")
        return timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
    if text.upper().startswith(("P", "-P")):
        try:
            return _ISO.validate_python(text)
        except (ValidationError, OverflowError):
            pass
    raise DurationError(f"{what}={text!r} is not a duration: {accepted}")


@dataclass(frozen=True)
class Timers:
    """When a request reminds the people it still waits for, escalates to `escalate_to` (who may
    then decide too), and expires (closed, nothing runs, the model is told). None: never."""

    remind_after: timedelta | None = None
    escalate_after: timedelta | None = None
    escalate_to: tuple[str, ...] = ()
    expire_after: timedelta | None = None

    def over(self, base: Timers) -> Timers:
        """These timers, with `base`'s where these leave a field unset."""
        return Timers(
            remind_after=self.remind_after if self.remind_after is not None else base.remind_after,
            escalate_after=self.escalate_after if self.escalate_after is not None else base.escalate_after,
            escalate_to=self.escalate_to or base.escalate_to,
            expire_after=self.expire_after if self.expire_after is not None else base.expire_after,
        )

    def problems(self, where: str) -> list[str]:
        """What makes this clock useless or contradictory, each naming `where` it was declared."""
        found: list[str] = []
        if self.escalate_after is not None and not self.escalate_to:
            found.append(f"{where}: escalate_after needs escalate_to (who is asked next)")
        if self.escalate_to and self.escalate_after is None:
            found.append(f"{where}: escalate_to needs escalate_after (when they are asked)")
        if self.expire_after is not None:
            for name in ("remind_after", "escalate_after"):
                value = getattr(self, name)
                if value is not None and value >= self.expire_after:
                    found.append(f"{where}: {name} ({value}) must be shorter than expire_after ({self.expire_after})")
        return found

    def event_fields(self) -> ClockFields:
        """What a request's event carries: seconds, and who is escalated to."""
        return ClockFields(
            remind_after=_seconds(self.remind_after),
            escalate_after=_seconds(self.escalate_after),
            escalate_to=list(self.escalate_to),
            expire_after=_seconds(self.expire_after),
        )


def _seconds(value: timedelta | None) -> float | None:
    return None if value is None else value.total_seconds()


def timers_from(
    where: str,
    *,
    remind_after: Duration | None = None,
    escalate_after: Duration | None = None,
    escalate_to: Sequence[str] | None = None,
    expire_after: Duration | None = None,
) -> tuple[Timers, list[str]]:
    """Timers from declared values, and every problem with them (each naming `where`)."""
    problems: list[str] = []

    def duration(value: Duration | None, name: str) -> timedelta | None:
        if value is None:
            return None
        try:
            return parse_duration(value, name)
        except DurationError as exc:
            problems.append(f"{where}: {exc}")
            return None

    people: tuple[str, ...] = ()
    if escalate_to is not None:
        if isinstance(escalate_to, str) or not all(isinstance(p, str) for p in escalate_to):
            problems.append(f"{where}: escalate_to must be a list of people, e.g. ['carol', 'U0ONCALL']")
        else:
            people = tuple(dict.fromkeys(p.strip() for p in escalate_to if p.strip()))
            if len(people) > MAX_ESCALATE_TO:
                problems.append(f"{where}: escalate_to names {len(people)} people; at most {MAX_ESCALATE_TO}")
    timers = Timers(
        remind_after=duration(remind_after, "remind_after"),
        escalate_after=duration(escalate_after, "escalate_after"),
        escalate_to=people,
        expire_after=duration(expire_after, "expire_after"),
    )
    return timers, problems
