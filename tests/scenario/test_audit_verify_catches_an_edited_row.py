"""An operator proves the audit to someone who does not trust them: `signoff audit verify` passes on
what a running server recorded, then fails, naming the record, once a row is changed with SQL; an
export verifies offline, and fails once edited; a noted head hash catches the newest records removed."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from tests.support.cli import signoff_cli
from tests.support.fake_model import FakeModelServer, text, tool_call
from tests.support.signoff_process import SignoffProcess, wait_until


def test_audit_verify_passes_then_names_the_row_changed_with_sql(
    signoff: SignoffProcess, model: FakeModelServer, sqlite_url: str, tmp_path: Path
) -> None:
    model.script(
        tool_call("deploy", {"service": "search", "version": "2.1.0", "reason": "fix"}),
        text("Deployed."),
        tool_call("deploy", {"service": "web", "version": "3.0.0", "reason": "feature"}),
        text("Not deployed."),
    )
    env = {"SIGNOFF_DATABASE_URL": sqlite_url, "SIGNOFF_APPROVERS": "alice@example.com"}
    with signoff.client() as api:
        for message, verb in (("deploy search 2.1.0", "approve"), ("deploy web 3.0.0", "deny")):
            thread_id = api.post("/api/threads", json={"message": message, "by": "bob"}).json()["id"]
            wait_until(
                lambda t=thread_id: api.get(f"/api/threads/{t}").json()["status"] == "waiting", message="waiting"
            )
            events = api.get(f"/api/threads/{thread_id}").json()["events"]
            request_id = next(e["request_id"] for e in events if e["type"] == "approval_requested")
            decided = signoff_cli(verb, request_id, "--by", "alice@example.com", env=env, cwd=tmp_path)
            assert decided.returncode == 0, decided.stderr
            wait_until(lambda t=thread_id: api.get(f"/api/threads/{t}").json()["status"] == "done", message="done")

    verified = signoff_cli("audit", "verify", env=env, cwd=tmp_path)
    assert verified.returncode == 0, verified.stderr
    assert "audit chain OK in the database: 4 records" in verified.stdout  # 2 requests, 2 decisions
    head = verified.stdout.rsplit("head ", 1)[1].strip()

    export = tmp_path / "audit.jsonl"
    exported = signoff_cli("audit", "export", "--out", str(export), env=env, cwd=tmp_path)
    assert exported.returncode == 0 and "wrote 4 audit records" in exported.stderr
    offline = signoff_cli("audit", "verify", "--file", str(export), "--head", head, env=env, cwd=tmp_path)
    assert offline.returncode == 0 and f"head {head}" in offline.stdout

    # Someone with the database's password turns the denial into an approval.
    path = sqlite_url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:
        seq, thread = conn.execute(
            "SELECT seq, thread_id FROM events WHERE type = 'approval_decided' AND data LIKE '%\"approved\":false%'"
        ).fetchone()
        conn.execute(
            "UPDATE events SET data = replace(data, '\"approved\":false', '\"approved\":true') "
            "WHERE seq = ? AND thread_id = ?",
            (seq, thread),
        )
    broken = signoff_cli("audit", "verify", env=env, cwd=tmp_path)
    assert broken.returncode == 1
    assert f"BROKEN in the database after 3 good records: record 4 (thread {thread}, event {seq})" in broken.stderr
    assert "changed after it was recorded" in broken.stderr

    # The export taken before still verifies; the same edit made to it does not.
    lines = export.read_text().splitlines()
    record = json.loads(lines[-1])
    record["data"] = record["data"].replace('"approved":false', '"approved":true')
    lines[-1] = json.dumps(record)
    export.write_text("\n".join(lines) + "\n")
    edited = signoff_cli("audit", "verify", "--file", str(export), env=env, cwd=tmp_path)
    assert edited.returncode == 1 and "record 4" in edited.stderr

    # Removing the newest record and its event leaves a valid, shorter chain: only the head noted earlier shows it.
    with sqlite3.connect(path) as conn:
        conn.execute(
            "UPDATE events SET data = replace(data, '\"approved\":true', '\"approved\":false') "
            "WHERE seq = ? AND thread_id = ?",
            (seq, thread),
        )
        conn.execute("DELETE FROM audit_chain WHERE seq = ? AND thread_id = ?", (seq, thread))
        conn.execute("DELETE FROM events WHERE seq >= ? AND thread_id = ?", (seq, thread))
    shorter = signoff_cli("audit", "verify", env=env, cwd=tmp_path)
    assert shorter.returncode == 0 and "3 records" in shorter.stdout
    truncated = signoff_cli("audit", "verify", "--head", head, env=env, cwd=tmp_path)
    assert truncated.returncode == 1 and "records were removed" in truncated.stderr
