"""The `signoff` command run as an operator runs it: a child process, no env file, our environment."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def signoff_cli(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        env={**os.environ, "SIGNOFF_ENV_FILE": str(cwd / "none.env"), **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )
