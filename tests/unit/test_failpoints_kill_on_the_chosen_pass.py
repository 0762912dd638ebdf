"""The crash-point switch: off by default, parsed strictly, and a real SIGKILL on the chosen pass."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from bot import failpoints


def test_spec_is_parsed_strictly() -> None:
    assert failpoints.parse("") == {}
    assert failpoints.parse(" after_model_answer=3, during_tool ") == {"after_model_answer": 3, "during_tool": 1}
    with pytest.raises(ValueError, match="unknown failpoint 'after_lunch'"):
        failpoints.parse("after_lunch=1")
    with pytest.raises(ValueError, match="whole number"):
        failpoints.parse("during_tool=x")
    with pytest.raises(ValueError, match="at least 1"):
        failpoints.parse("during_tool=0")


def test_unset_does_nothing() -> None:
    assert "SIGNOFF_FAILPOINTS" not in os.environ
    for _ in range(3):
        failpoints.hit("during_tool")


def test_the_process_dies_by_sigkill_on_the_nth_pass() -> None:
    code = (
        "from bot import failpoints\n"
        "for i in range(1, 5):\n"
        "    print(i, flush=True)\n"
        "    failpoints.hit('after_state_commit')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "SIGNOFF_FAILPOINTS": "after_state_commit=3"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == -signal.SIGKILL
    assert done.stdout.split() == ["1", "2", "3"]
    assert "failpoint after_state_commit reached (3x): SIGKILL" in done.stderr
