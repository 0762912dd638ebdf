"""The agent core imports no channel, storage or web code; channels never import the core."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = {
    "agent": {"channels", "storage", "bot", "slack_bolt", "slack_sdk", "imapclient", "aiosmtplib", "fastapi", "sqlmodel", "sqlalchemy"},
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
