"""An agent's MCP tools (a real MCP server built with the `mcp` package, over stdio and over
streamable HTTP on loopback): a read-only tool runs at once; a tool not listed read-only asks for
approval and runs once after it; arguments the server's schema refuses never reach the server; a
server that dies mid-call is an error event, and it is started again for the next call."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from tests.scenario.test_cli_as_an_operator_uses_it import signoff_cli
from tests.support.deployments import ROOT, deployment_env
from tests.support.fake_model import FakeModelServer, text, tool_call
from tests.support.signoff_process import SignoffProcess, free_port, wait_until


def notes_server(tmp_path: Path, transport: str) -> str:
    if transport == "stdio":
        where = f'command = ["{sys.executable}", "-m", "tests.support.mcp_notes_server", "stdio"]'
    else:
        where = f'url = "{transport}"'
    return f"""
[agents.ops.mcp.notes]
{where}
env = {{ NOTES_FILE = "{tmp_path / "notes.txt"}", NOTES_PID = "{tmp_path / "notes.pid"}", PYTHONPATH = "{ROOT}" }}
read_only = ["read_notes", "crash"]
approvers = ["alice@example.com"]
timeout_seconds = 60
"""


def serve(tmp_path: Path, model: FakeModelServer, extra: str) -> SignoffProcess:
    return SignoffProcess(
        {
            "SIGNOFF_DATABASE_URL": f"sqlite:///{tmp_path / 'signoff.db'}",
            "SIGNOFF_APPROVERS": "alice@example.com",
            **model.settings(),
            **deployment_env(tmp_path, extra),
        },
        tmp_path,
    ).start()


def events(api: httpx.Client, thread_id: str) -> list[dict[str, Any]]:
    return list(api.get(f"/api/threads/{thread_id}").json()["events"])


def approve_the_note(api: httpx.Client, thread_id: str) -> list[dict[str, Any]]:
    # A loaded machine: the first step waits for the model library and the MCP server to load.
    [request] = wait_until(
        lambda: api.get("/api/requests", params={"status": "pending"}).json()["requests"], timeout=120
    )
    assert request["tool"] == "notes__add_note" and request["arguments"]["text"] == "payments restarts at 5"
    decided = api.post(
        f"/api/requests/{request['id']}/decision", json={"decision": "approve", "by": "alice@example.com"}
    )
    assert decided.status_code == 200, decided.text
    return list(
        wait_until(lambda: api.get(f"/api/threads/{thread_id}").json()["status"] == "done" and events(api, thread_id))
    )


def test_stdio_tools_read_freely_write_after_approval_and_survive_a_crash(
    tmp_path: Path, model: FakeModelServer
) -> None:
    model.script(
        tool_call("notes__read_notes", {}),
        tool_call("notes__add_note", {"text": 5, "reason": "asked"}),
        tool_call("notes__add_note", {"text": "payments restarts at 5", "reason": "bob asked"}),
        text("Noted."),
    )
    server = serve(tmp_path, model, notes_server(tmp_path, "stdio"))
    api = server.client()
    try:
        thread_id = api.post("/api/threads", json={"message": "note that payments restarts at 5"}).json()["id"]
        done = approve_the_note(api, thread_id)
        kinds = [e["type"] for e in done]
        assert kinds == [
            "human_message",
            "tool_call",
            "tool_result",
            "error",
            "approval_requested",
            "approval_decided",
            "tool_started",
            "tool_result",
            "agent_reply",
        ], kinds
        assert done[2]["result"] == "(no notes)"
        assert "invalid arguments for notes__add_note" in done[3]["message"]
        assert done[7]["result"] == "noted: payments restarts at 5"
        assert (tmp_path / "notes.txt").read_text() == "payments restarts at 5\n"  # once
        offered = {t["function"]["name"]: t["function"] for t in model.requests[0]["tools"]}
        assert "reason" in offered["notes__add_note"]["parameters"]["required"]
        assert "reason" not in offered["notes__read_notes"]["parameters"].get("properties", {})

        first_pid = (tmp_path / "notes.pid").read_text()
        model.script(tool_call("notes__crash", {}), tool_call("notes__read_notes", {}, delay=3.0), text("Read."))
        crashed = api.post("/api/threads", json={"message": "read the notes"}).json()["id"]
        after = wait_until(
            lambda: api.get(f"/api/threads/{crashed}").json()["status"] == "done" and events(api, crashed),
            timeout=120,
        )
        assert [e["type"] for e in after] == [
            "human_message",
            "tool_call",
            "error",
            "tool_call",
            "tool_result",
            "agent_reply",
        ]
        assert "MCP server notes of agent ops failed during the call" in after[2]["message"]
        assert "being started again" in after[2]["message"]
        assert after[4]["result"] == "payments restarts at 5\n"
        assert (tmp_path / "notes.pid").read_text() != first_pid

        checked = signoff_cli("agents", "check", env=server.env, cwd=tmp_path)
        assert checked.returncode == 0, checked.stderr
        assert (
            "mcp notes of agent ops: 3 tools (notes__read_notes, notes__add_note, notes__crash); "
            "approval needed for notes__add_note"
        ) in checked.stdout.splitlines()
    finally:
        server.stop()


def test_streamable_http_tools_need_approval_and_run_once(tmp_path: Path, model: FakeModelServer) -> None:
    port = free_port()
    env = {"NOTES_FILE": str(tmp_path / "notes.txt"), "PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    mcp = subprocess.Popen(
        [sys.executable, "-m", "tests.support.mcp_notes_server", "http", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(lambda: _listening(port), timeout=30, message="the MCP server")
        model.script(
            tool_call("notes__add_note", {"text": "payments restarts at 5", "reason": "bob asked"}),
            text("Noted."),
        )
        server = serve(tmp_path, model, notes_server(tmp_path, f"http://127.0.0.1:{port}/mcp"))
        api = server.client()
        try:
            thread_id = api.post("/api/threads", json={"message": "note that payments restarts at 5"}).json()["id"]
            done = approve_the_note(api, thread_id)
            assert [e["type"] for e in done][-3:] == ["tool_started", "tool_result", "agent_reply"]
            assert (tmp_path / "notes.txt").read_text() == "payments restarts at 5\n"
        finally:
            server.stop()
    finally:
        mcp.kill()
        mcp.wait(10)


def _listening(port: int) -> bool:
    try:
        httpx.get(f"http://127.0.0.1:{port}/mcp", timeout=1)
    except httpx.HTTPError:
        return False
    return True
