"""The agent core imports no channel, storage or web code; channels never import the core."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = {
    "agent": {
        "channels",
        "storage",
        "bot",
        "slack_bolt",
        "slack_sdk",
        "imapclient",
        "aiosmtplib",
        "fastapi",
        "sqlmodel",
        "sqlalchemy",
    },
    "channels": {"agent", "storage", "bot", "litellm"},
    "storage": {"channels", "bot", "litellm"},
}


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_packages_respect_their_boundaries() -> None:
    violations = [
        f"{path.relative_to(ROOT)} imports {sorted(imported_modules(path) & forbidden)}"
        for package, forbidden in FORBIDDEN.items()
        for path in (ROOT / package).rglob("*.py")
        if imported_modules(path) & forbidden
    ]
    assert violations == []


# agent/'s pure core decides; agent/io/ does (the model client, running a step). `agent.testing`, the
# in-memory harness for agent authors, runs steps and so sits on the I/O side.
PURE_CORE_MAY_NOT_IMPORT = {"agent.io", "litellm", "asyncio", "httpx", "aiohttp", "socket", "subprocess", "threading"}


def imported_names(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_the_agent_core_is_pure_and_its_io_apart() -> None:
    core = [p for p in (ROOT / "agent").glob("*.py") if p.name != "testing.py"]
    assert {p.name for p in core} >= {"events.py", "thread.py", "reducer.py", "context.py", "tools.py", "definition.py"}
    violations = [
        f"{path.relative_to(ROOT)} imports {sorted(hits)}"
        for path in core
        if (
            hits := {
                name
                for name in imported_names(path)
                if any(name == bad or name.startswith(bad + ".") for bad in PURE_CORE_MAY_NOT_IMPORT)
            }
        )
    ]
    assert violations == []
    assert (ROOT / "agent" / "io" / "model.py").exists() and (ROOT / "agent" / "io" / "runner.py").exists()
