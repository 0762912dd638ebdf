"""Crash points, a testing aid: SIGKILL this process the Nth time it reaches a named point.

Off unless `SIGNOFF_FAILPOINTS` is set; then `hit()` costs a dictionary lookup. The fault tests
(`tests/fault/`) start `signoff serve` with, e.g.,

    SIGNOFF_FAILPOINTS="after_model_answer=3,during_tool=1"

and the process kills itself with SIGKILL (no cleanup, no flush: a power cut) the 3rd time a
model's answer is about to be recorded, or the first time an approved tool has done its effect,
whichever comes first. The tests then restart it and prove that nothing was lost or done twice.

The points, in the order a thread meets them:

| point                    | where                                                             |
|--------------------------|-------------------------------------------------------------------|
| `after_inbound_recorded` | a human's message, decision or answer is committed, before the ack |
| `before_thread_built`    | a Slack mention was recorded and acked; its thread is not yet built |
| `after_model_answer`     | the model answered; its events are not yet committed              |
| `during_tool`            | a tool did its effect (committed); its result is not yet recorded |
| `after_state_commit`     | a worker committed a step's events (and their outbox rows)        |
| `after_send`             | a channel sent an outbox message; the row is not yet marked sent  |

Tools of your own agent may call `hit("during_tool")` after their effect, as the bundled example does.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading

from bot.process_env import SUPERVISOR_PID

ENV = "SIGNOFF_FAILPOINTS"
POINTS = frozenset(
    {
        "after_inbound_recorded",
        "before_thread_built",
        "after_model_answer",
        "during_tool",
        "after_state_commit",
        "after_send",
    }
)


def parse(spec: str) -> dict[str, int]:
    """`"name=N,name=N"` -> {name: N}; a clear ValueError for anything else."""
    targets: dict[str, int] = {}
    for part in spec.replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        name, sep, count = part.partition("=")
        name = name.strip()
        if name not in POINTS:
            raise ValueError(f"{ENV}: unknown failpoint {name!r}; known: {', '.join(sorted(POINTS))}")
        try:
            n = int(count) if sep else 1
        except ValueError:
            raise ValueError(f"{ENV}: {part!r}: the count after '=' must be a whole number") from None
        if n < 1:
            raise ValueError(f"{ENV}: {part!r}: the count must be at least 1")
        targets[name] = n
    return targets


_targets = parse(os.environ.get(ENV, ""))
_hits: dict[str, int] = {}
_lock = threading.Lock()


def hit(name: str) -> None:
    """Count a pass through `name`; SIGKILL the process if this is the configured pass."""
    if not _targets:
        return
    assert name in POINTS, name
    with _lock:
        _hits[name] = _hits.get(name, 0) + 1
        if _hits[name] != _targets.get(name):
            return
        # Say why we died; the tests read it from the log to know where the kill landed.
        os.write(sys.stderr.fileno(), f"failpoint {name} reached ({_hits[name]}x): SIGKILL\n".encode())
        # Under the supervisor, the whole server goes, as in a power cut: the supervisor first (its
        # death kills the other children), then this process.
        supervisor = int(os.environ.get(SUPERVISOR_PID, "0"))
        if supervisor:
            with contextlib.suppress(ProcessLookupError):
                os.kill(supervisor, signal.SIGKILL)
        os.kill(os.getpid(), signal.SIGKILL)
