"""`SIGNOFF_LOG_FORMAT=json`: every line `signoff serve` writes, from the supervisor, the ingress and
the worker (uvicorn's own lines included), is one JSON object with a time, a level, the logger, the
message, the process's role and pid; a line about a thread carries its id in `thread_id`."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.fake_model import FakeModelServer, text
from tests.support.signoff_process import SignoffProcess, wait_until


def test_every_line_is_json_and_names_its_thread(model: FakeModelServer, sqlite_url: str, tmp_path: Path) -> None:
    model.script(text("Hello."))
    server = SignoffProcess(
        {
            "SIGNOFF_DATABASE_URL": sqlite_url,
            **model.settings(),
            "SIGNOFF_LOG_FORMAT": "json",
            "SIGNOFF_APPROVERS": "alice@example.com",
        },
        tmp_path,
    ).start()
    try:
        with server.client() as api:
            thread_id = api.post("/api/threads", json={"message": "hi", "by": "bob@example.com"}).json()["id"]
            wait_until(lambda: api.get(f"/api/threads/{thread_id}").json()["status"] == "done", message="done")
    finally:
        server.stop()
    lines = [json.loads(line) for line in server.logs().splitlines() if line.strip()]
    assert lines and all({"time", "level", "logger", "message", "role", "pid"} <= set(line) for line in lines)
    assert {line["role"] for line in lines} >= {"serve", "ingress", "worker-0"}
    assert any(line["logger"].startswith("uvicorn") for line in lines)
    [started] = [line for line in lines if "started by bob@example.com" in line["message"]]
    assert started["thread_id"] == thread_id and started["role"] == "ingress"
