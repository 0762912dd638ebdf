"""The `signoff` command as an operator runs it: doctor, threads, approve, serve without a model."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.support.cli import signoff_cli
from tests.support.fake_model import FakeModelServer, text, tool_call
from tests.support.signoff_process import SignoffProcess, wait_until


def test_doctor_says_what_is_wrong_and_how_to_fix_it(tmp_path: Path, model: FakeModelServer) -> None:
    no_model = signoff_cli("doctor", env={"SIGNOFF_DATABASE_URL": f"sqlite:///{tmp_path}/d.db"}, cwd=tmp_path)
    assert no_model.returncode == 1
    assert "FAIL  no model configured" in no_model.stdout
    assert "set SIGNOFF_MODEL" in no_model.stdout
    assert "signoff db upgrade" in no_model.stdout  # a fresh database is not migrated yet

    bad_port = signoff_cli("doctor", env={"SIGNOFF_PORT": "99999"}, cwd=tmp_path)
    assert bad_port.returncode == 1
    assert "SIGNOFF_PORT" in bad_port.stdout and "65535" in bad_port.stdout

    model.script(text("ok"))
    url = f"sqlite:///{tmp_path}/ok.db"
    assert signoff_cli("db", "upgrade", env={"SIGNOFF_DATABASE_URL": url}, cwd=tmp_path).returncode == 0
    healthy = signoff_cli(
        "doctor",
        env={
            "SIGNOFF_DATABASE_URL": url,
            "SIGNOFF_MODEL": "openai/fake",
            "SIGNOFF_MODEL_API_BASE": model.url,
            "SIGNOFF_MODEL_API_KEY": "x",
            "SIGNOFF_API_TOKEN": "t",
            "SIGNOFF_APPROVERS": "alice@example.com",
        },
        cwd=tmp_path,
    )
    assert healthy.returncode == 0, healthy.stdout + healthy.stderr
    assert "ok    model openai/fake answered" in healthy.stdout
    assert "approval needed for restart_service, deploy" in healthy.stdout

    unreachable = signoff_cli(
        "doctor",
        env={
            "SIGNOFF_DATABASE_URL": url,
            "SIGNOFF_MODEL": "openai/fake",
            "SIGNOFF_MODEL_API_BASE": "http://127.0.0.1:9/v1",
            "SIGNOFF_MODEL_MAX_ATTEMPTS": "1",
        },
        cwd=tmp_path,
    )
    assert unreachable.returncode == 1
    assert "FAIL  model openai/fake" in unreachable.stdout and "SIGNOFF_MODEL_API_BASE" in unreachable.stdout


def test_operator_approves_from_the_cli_while_the_server_runs(
    signoff: SignoffProcess, model: FakeModelServer, sqlite_url: str, tmp_path: Path
) -> None:
    model.script(tool_call("deploy", {"service": "search", "version": "2.1.0", "reason": "fix"}), text("Deployed."))
    env = {"SIGNOFF_DATABASE_URL": sqlite_url, "SIGNOFF_APPROVERS": "alice@example.com"}
    with signoff.client() as api:
        thread_id = api.post("/api/threads", json={"message": "deploy search 2.1.0", "by": "bob"}).json()["id"]
        wait_until(lambda: api.get(f"/api/threads/{thread_id}").json()["status"] == "waiting", message="waiting")

        listed = signoff_cli("threads", "list", "--status", "waiting", env=env, cwd=tmp_path)
        assert thread_id in listed.stdout and "waiting" in listed.stdout
        shown = signoff_cli("threads", "show", thread_id, env=env, cwd=tmp_path)
        assert "<approval_requested" in shown.stdout and '"version": "2.1.0"' in shown.stdout
        request_id = shown.stdout.split("waiting: approval ")[1].split()[0]

        refused = signoff_cli("approve", request_id, "--by", "mallory", env=env, cwd=tmp_path)
        assert refused.returncode == 1 and "may not answer" in refused.stderr
        approved = signoff_cli("approve", request_id, "--by", "alice@example.com", env=env, cwd=tmp_path)
        assert approved.returncode == 0, approved.stderr
        wait_until(lambda: api.get(f"/api/threads/{thread_id}").json()["status"] == "done", message="done")
        again = signoff_cli("deny", request_id, "--by", "alice@example.com", env=env, cwd=tmp_path)
        assert again.returncode == 1 and "already approved by alice@example.com" in again.stderr


def test_serve_starts_without_a_model_and_says_how_to_configure_one(sqlite_url: str, tmp_path: Path) -> None:
    process = SignoffProcess({"SIGNOFF_DATABASE_URL": sqlite_url, "SIGNOFF_APPROVERS": "alice@example.com"}, tmp_path)
    process.env.pop("SIGNOFF_MODEL", None)
    process.start()
    try:
        with process.client() as api:
            thread_id = api.post("/api/threads", json={"message": "hello"}).json()["id"]
            thread = wait_until(
                lambda: (t := api.get(f"/api/threads/{thread_id}").json())["status"] == "failed" and t,
                message="the thread to fail with a clear error",
            )
        assert "set SIGNOFF_MODEL" in thread["events"][-1]["message"]
        assert httpx.get(f"{process.url}/healthz").json()["model"] is None
    finally:
        process.stop()
    assert "no model is configured: set SIGNOFF_MODEL" in process.logs()


def test_read_only_commands_never_create_or_migrate_a_database(tmp_path: Path) -> None:
    missing = tmp_path / "typo" / "signoff.db"
    env = {"SIGNOFF_DATABASE_URL": f"sqlite:///{missing}"}
    listed = signoff_cli("threads", "list", env=env, cwd=tmp_path)
    assert listed.returncode != 0
    assert "no Signoff database" in listed.stderr and "SIGNOFF_DATABASE_URL" in listed.stderr
    assert not missing.exists()

    # An older schema is reported, not upgraded behind the operator's back.
    old = tmp_path / "old.db"
    env = {"SIGNOFF_DATABASE_URL": f"sqlite:///{old}"}
    from storage import migrate
    from storage.db import Database

    database = Database(f"sqlite:///{old}")
    migrate.upgrade(database, "0001")
    database.dispose()
    shown = signoff_cli("threads", "show", "nope", env=env, cwd=tmp_path)
    assert shown.returncode != 0
    assert "schema revision 0001" in shown.stderr and "signoff db upgrade" in shown.stderr
    database = Database(f"sqlite:///{old}")
    assert migrate.current_revision(database) == "0001"
    database.dispose()


def test_serve_prints_no_alembic_chatter(sqlite_url: str, tmp_path: Path) -> None:
    server = SignoffProcess(
        {"SIGNOFF_DATABASE_URL": sqlite_url, "SIGNOFF_APPROVERS": "alice@example.com"}, tmp_path
    ).start()
    try:
        assert httpx.get(f"{server.url}/healthz", timeout=10).status_code == 200
    finally:
        server.stop()
    log = server.logs()
    assert "signoff serving on" in log
    assert "alembic" not in log, log
