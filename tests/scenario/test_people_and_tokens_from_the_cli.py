"""The people directory as an operator keeps it (`signoff people`, `signoff tokens`), and a person
named in SIGNOFF_APPROVERS approves from Slack as any of their Slack ids: one resolution of names."""

from __future__ import annotations

import json
from pathlib import Path

from channels.slack.blocks import APPROVE_ACTION_ID
from tests.scenario.test_cli_as_an_operator_uses_it import signoff_cli
from tests.support.fake_model import FakeModelServer, text, tool_call
from tests.support.fake_slack import FakeSlack
from tests.support.people import POLICY_AGENT, directory
from tests.support.signoff_process import SignoffProcess, wait_until
from tests.support.slack_requests import app_mention
from tests.support.slack_signoff import ALICE, BOB, MALLORY, MakeSlackBot, button_value, wait_for_card


def test_people_and_tokens_are_kept_and_refused_with_a_clear_message(tmp_path: Path) -> None:
    env = {"SIGNOFF_DATABASE_URL": f"sqlite:///{tmp_path}/people.db"}
    assert signoff_cli("db", "upgrade", env=env, cwd=tmp_path).returncode == 0
    added = signoff_cli(
        "people", "add", "alice", "--slack", ALICE, "--email", "alice@example.com", env=env, cwd=tmp_path
    )
    assert added.returncode == 0, added.stderr
    taken = signoff_cli("people", "add", "mallory", "--email", "Alice@Example.com", env=env, cwd=tmp_path)
    assert taken.returncode == 1 and "already belongs to alice" in taken.stderr
    listed = json.loads(signoff_cli("people", "list", "--json", env=env, cwd=tmp_path).stdout)
    assert [(p["name"], p["slack_ids"], p["emails"]) for p in listed] == [("alice", [ALICE], ["alice@example.com"])]

    created = signoff_cli("tokens", "create", "alice", "--expires", "2d", "--label", "laptop", env=env, cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip()
    assert token.startswith("sgf_") and "shown only now" in created.stderr
    [row] = json.loads(signoff_cli("tokens", "list", "--json", env=env, cwd=tmp_path).stdout)
    assert row["person"] == "alice" and row["state"] == "valid" and row["label"] == "laptop"
    assert token not in (tmp_path / "people.db").read_bytes().decode("latin-1")  # only its hash is kept

    unknown = signoff_cli("tokens", "create", "zed", env=env, cwd=tmp_path)
    assert unknown.returncode == 1 and "nobody named zed" in unknown.stderr
    past = signoff_cli("tokens", "create", "alice", "--expires", "2020-01-01", env=env, cwd=tmp_path)
    assert past.returncode == 2 and "in the past" in past.stderr
    assert signoff_cli("tokens", "revoke", row["id"], env=env, cwd=tmp_path).returncode == 0
    again = signoff_cli("tokens", "revoke", row["id"], env=env, cwd=tmp_path)
    assert again.returncode == 1 and "not already revoked" in again.stderr
    [revoked] = json.loads(signoff_cli("tokens", "list", "--json", env=env, cwd=tmp_path).stdout)
    assert revoked["state"] == "revoked"

    assert signoff_cli("people", "remove", "alice", env=env, cwd=tmp_path).returncode == 0
    gone = signoff_cli("people", "remove", "alice", env=env, cwd=tmp_path)
    assert gone.returncode == 1 and "nobody named alice" in gone.stderr
    assert json.loads(signoff_cli("tokens", "list", "--json", env=env, cwd=tmp_path).stdout) == []


def test_doctor_refuses_an_approver_list_naming_nobody(tmp_path: Path, model: FakeModelServer) -> None:
    env = {"SIGNOFF_DATABASE_URL": f"sqlite:///{tmp_path}/d.db", **model.settings(), "SIGNOFF_APPROVERS": "alicia"}
    assert signoff_cli("db", "upgrade", env=env, cwd=tmp_path).returncode == 0
    doctor = signoff_cli("doctor", env={**env, "SIGNOFF_API_TOKEN": "t"}, cwd=tmp_path)
    assert doctor.returncode == 1 and "nobody is known by: alicia" in doctor.stdout
    assert "signoff people add" in doctor.stdout


def test_a_person_named_as_approver_decides_from_slack(
    make_slack_bot: MakeSlackBot, fake: FakeSlack, model: FakeModelServer, tmp_path: Path
) -> None:
    env = {"SIGNOFF_DATABASE_URL": f"sqlite:///{tmp_path / 'signoff.db'}"}
    assert signoff_cli("db", "upgrade", env=env, cwd=tmp_path).returncode == 0
    add = signoff_cli("people", "add", "alice", "--slack", ALICE, "--email", "alice@example.com", env=env, cwd=tmp_path)
    assert add.returncode == 0, add.stderr
    bot = make_slack_bot(approvers="alice")
    model.script(tool_call("restart_service", {"name": "web", "reason": "slow"}), text("Restarted web."))
    assert bot.event(app_mention("<@UBOT> restart web", user=BOB)).status_code == 200
    [(card_at, card)] = wait_for_card(fake)
    request_id = button_value(card)
    assert bot.request(request_id)["allowed"] == ["alice"]

    bot.click(APPROVE_ACTION_ID, request_id, user=MALLORY, card=card_at)
    wait_until(lambda: [p for p in fake.calls_to("chat.postEphemeral") if p["user"] == MALLORY], message="refusal")
    assert bot.request(request_id)["status"] == "pending"

    bot.click(APPROVE_ACTION_ID, request_id, user=ALICE, card=card_at)
    thread = bot.wait_status(bot.request(request_id)["thread_id"], "done")
    [decided] = [e for e in thread["events"] if e["type"] == "approval_decided"]
    assert decided["approved"] and decided["by"] == ALICE


def test_console_decisions_follow_the_policy_and_are_marked_as_console(model: FakeModelServer, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'signoff.db'}"
    directory(url)
    server = SignoffProcess({"SIGNOFF_DATABASE_URL": url, **model.settings(), **POLICY_AGENT}, tmp_path).start()
    env = {"SIGNOFF_DATABASE_URL": url, **POLICY_AGENT}
    try:
        with server.client() as api:
            model.script(tool_call("deploy", {"service": "web", "env": "prod", "reason": "release"}), text("Done."))
            thread_id = api.post("/api/threads", json={"message": "deploy web to prod", "by": "U0BOB"}).json()["id"]
            [request] = wait_until(lambda: api.get("/api/requests", params={"status": "pending"}).json()["requests"])
            own = signoff_cli("approve", request["id"], "--by", "bob@corp.example", env=env, cwd=tmp_path)
            assert own.returncode == 1 and "may not approve their own request" in own.stderr
            first = signoff_cli("approve", request["id"], "--by", "alice", env=env, cwd=tmp_path)
            assert first.returncode == 0 and "approval 1 of 2 recorded" in first.stdout
            twice = signoff_cli("approve", request["id"], "--by", ALICE, env=env, cwd=tmp_path)
            assert twice.returncode == 1 and "already approved" in twice.stderr
            assert signoff_cli("approve", request["id"], "--by", "carol", env=env, cwd=tmp_path).returncode == 0
            thread = wait_until(lambda: (t := api.get(f"/api/threads/{thread_id}").json())["status"] == "done" and t)
        [decided] = [e for e in thread["events"] if e["type"] == "approval_decided"]
        identity = decided["identity"]
        assert (identity["method"], identity["channel"], identity["subject"], identity["person"]) == (
            "console",
            "cli",
            "carol",
            "carol",
        )
        assert identity["detail"]["os_user"]
    finally:
        server.stop()
