"""A real MCP server for the MCP scenarios, built with the `mcp` package's server API.

    python -m tests.support.mcp_notes_server stdio
    python -m tests.support.mcp_notes_server http PORT

Tools: `read_notes()` (read-only), `add_note(text, urgent)` (an effect: one line appended to
$NOTES_FILE per call, so a test counts the runs) and `crash()` (the process exits mid-call). Each start writes its process id to $NOTES_PID,
so a test can kill it and see the bot start it again.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from mcp.server.mcpserver import MCPServer

server = MCPServer("notes")


def _notes() -> Path:
    return Path(os.environ["NOTES_FILE"])


@server.tool()
def read_notes() -> str:
    """Read every note, one per line."""
    path = _notes()
    return path.read_text() if path.exists() else "(no notes)"


@server.tool()
def add_note(text: str, urgent: bool = False) -> str:
    """Add a note.

    Args:
        text: What the note says.
        urgent: Whether it is urgent.
    """
    with _notes().open("a") as notes:
        notes.write(f"{'!' if urgent else ''}{text}\n")
    return f"noted: {text}"


@server.tool()
def crash() -> str:
    """Stop the server at once, mid-call (how a server dies, for the tests)."""
    os._exit(3)


def main() -> None:
    if os.environ.get("NOTES_PID"):
        Path(os.environ["NOTES_PID"]).write_text(str(os.getpid()))
    if sys.argv[1:2] == ["http"]:
        server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
    else:
        server.run("stdio")


if __name__ == "__main__":
    main()
