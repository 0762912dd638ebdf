"""`signoff doctor` tries the configured channels for real: Slack's Web API (the fake, on loopback),
a real Dovecot and aiosmtpd; each wrong setting is named with its fix, and fails the exit code."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.support.cli import signoff_cli
from tests.support.dovecot import DovecotServer, dovecot_available, free_port
from tests.support.email_signoff import AGENT, AGENT_PASSWORD, SECRET
from tests.support.fake_model import FakeModelServer
from tests.support.fake_slack import FakeSlack
from tests.support.skips import skip_or_fail
from tests.support.smtp_server import SmtpServer


@pytest.fixture
def healthy_env(tmp_path: Path, model: FakeModelServer) -> dict[str, str]:
    """Database migrated, model answering, API token set: only the channels can fail doctor."""
    url = f"sqlite:///{tmp_path / 'doctor.db'}"
    assert signoff_cli("db", "upgrade", env={"SIGNOFF_DATABASE_URL": url}, cwd=tmp_path).returncode == 0
    return {
        "SIGNOFF_DATABASE_URL": url,
        "SIGNOFF_MODEL": "openai/fake",
        "SIGNOFF_MODEL_API_BASE": model.url,
        "SIGNOFF_MODEL_API_KEY": "x",
        "SIGNOFF_API_TOKEN": "t",
        "SIGNOFF_APPROVERS": "U0ALICE,alice@example.com",
    }


def slack_env(fake: FakeSlack, **overrides: str) -> dict[str, str]:
    return {
        "SLACK_API_URL": fake.api_url,
        "SLACK_BOT_TOKEN": fake.bot_token,
        "SLACK_SIGNING_SECRET": "signing-secret",
        **overrides,
    }


def email_env(imap_port: int, smtp_port: int, **overrides: str) -> dict[str, str]:
    return {
        "SIGNOFF_SECRET_KEY": SECRET,
        "SIGNOFF_EMAIL_ADDRESS": AGENT,
        "SIGNOFF_IMAP_HOST": "127.0.0.1",
        "SIGNOFF_IMAP_PORT": str(imap_port),
        "SIGNOFF_IMAP_PASSWORD": AGENT_PASSWORD,
        "SIGNOFF_IMAP_TLS": "off",
        "SIGNOFF_SMTP_HOST": "127.0.0.1",
        "SIGNOFF_SMTP_PORT": str(smtp_port),
        "SIGNOFF_SMTP_TLS": "off",
        **overrides,
    }


def doctor(env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return signoff_cli("doctor", env=env, cwd=tmp_path)


def failure(result: subprocess.CompletedProcess[str], starts: str) -> str:
    """The FAIL line starting with `starts`, and its fix line."""
    lines = result.stdout.splitlines()
    for i, line in enumerate(lines):
        if line.startswith(f"FAIL  {starts}"):
            return f"{line}\n{lines[i + 1]}"
    raise AssertionError(f"no FAIL line starting {starts!r} in:\n{result.stdout}{result.stderr}")


def test_every_channel_configured_right_passes(
    healthy_env: dict[str, str], fake: FakeSlack, dovecot: DovecotServer, smtp: SmtpServer, tmp_path: Path
) -> None:
    env = {**healthy_env, **slack_env(fake), **email_env(dovecot.imap_port, smtp.port)}
    result = doctor(env, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok    Slack bot @signoff (UBOT) in Signoff Test (T1)" in result.stdout
    assert "ok    Slack HTTP mode" in result.stdout
    assert f"ok    IMAP {AGENT} at 127.0.0.1:{dovecot.imap_port} (tls off): logged in, INBOX has 0 messages, " in (
        result.stdout
    )
    assert "IDLE supported" in result.stdout
    assert f"ok    SMTP 127.0.0.1:{smtp.port} (tls off):" in result.stdout and "nothing sent" in result.stdout
    assert [c.method for c in fake.calls] == ["auth.test"] and fake.errors == []
    assert smtp.messages == []
    # #22.4: sender authentication is on by default, and doctor says how it is checked.
    assert "warn  email replies decide only from authenticated senders" in result.stdout
    with_authserv = doctor({**env, "SIGNOFF_EMAIL_AUTHSERV_ID": "mx.example.test"}, tmp_path)
    assert "ok    email replies decide only with a DMARC or aligned DKIM pass from mx.example.test" in (
        with_authserv.stdout
    )
    turned_off = doctor({**env, "SIGNOFF_EMAIL_REQUIRE_AUTH": "false"}, tmp_path)
    assert "warn  SIGNOFF_EMAIL_REQUIRE_AUTH=false" in turned_off.stdout


def test_a_wrong_slack_token_fails_with_the_fix(healthy_env: dict[str, str], fake: FakeSlack, tmp_path: Path) -> None:
    result = doctor({**healthy_env, **slack_env(fake, SLACK_BOT_TOKEN="xoxb-revoked")}, tmp_path)
    assert result.returncode == 1
    line = failure(result, "Slack refused SLACK_BOT_TOKEN")
    assert "invalid_auth" in line and "Bot User OAuth Token (xoxb-" in line and "reinstall the app" in line


def test_a_slack_app_without_the_commands_scope_is_told_what_lacks_it(
    healthy_env: dict[str, str], fake: FakeSlack, tmp_path: Path
) -> None:
    """An app created before the Home tab, /signoff and the shortcut: doctor names the scope and what needs it."""
    healthy = doctor({**healthy_env, **slack_env(fake)}, tmp_path)
    assert "ok    Slack scopes: the bot token holds every scope in manifest.yml" in healthy.stdout
    assert "the slash command /signoff and the message shortcut" in healthy.stdout
    fake.scopes = [s for s in fake.scopes if s != "commands"]
    result = doctor({**healthy_env, **slack_env(fake)}, tmp_path)
    assert result.returncode == 1
    line = failure(result, "the Slack app lacks the scope commands")
    assert "slash command /signoff" in line and "message shortcut" in line and "reinstall the app" in line


def test_slack_checks_without_a_model(fake: FakeSlack, tmp_path: Path) -> None:
    """No model: doctor fails on that anyway, and each Slack line says what else is wrong."""
    socket_mode = doctor(slack_env(fake, SLACK_SIGNING_SECRET="", SLACK_APP_TOKEN=fake.app_token), tmp_path)
    assert "ok    Slack Socket Mode: SLACK_APP_TOKEN may open connections" in socket_mode.stdout
    assert "Slack HTTP mode" not in socket_mode.stdout
    assert [c.method for c in fake.calls] == ["auth.test", "apps.connections.open"]

    refused = doctor(slack_env(fake, SLACK_APP_TOKEN=fake.bot_token), tmp_path)  # a bot token in its place
    line = failure(refused, "Slack refused SLACK_APP_TOKEN (apps.connections.open): not_allowed_token_type")
    assert "an app-level token with connections:write" in line

    no_way_in = doctor(slack_env(fake, SLACK_SIGNING_SECRET=""), tmp_path)
    line = failure(no_way_in, "Slack cannot reach the bot")
    assert "SLACK_SIGNING_SECRET" in line and "SLACK_APP_TOKEN" in line
    assert "ok    Slack bot @signoff" in no_way_in.stdout  # the token is still checked

    closed = f"http://127.0.0.1:{free_port()}/api/"
    unreachable = doctor(slack_env(fake, SLACK_API_URL=closed), tmp_path)
    assert f"check SLACK_API_URL ({closed})" in failure(unreachable, f"Slack Web API unreachable at {closed}")


def test_a_wrong_imap_password_or_folder_fails_with_the_fix(
    healthy_env: dict[str, str], dovecot: DovecotServer, smtp: SmtpServer, tmp_path: Path
) -> None:
    wrong_password = doctor(
        {**healthy_env, **email_env(dovecot.imap_port, smtp.port, SIGNOFF_IMAP_PASSWORD="nope")}, tmp_path
    )
    assert wrong_password.returncode == 1
    line = failure(wrong_password, f"IMAP {AGENT} at 127.0.0.1:{dovecot.imap_port} (tls off): login refused")
    assert "SIGNOFF_IMAP_PASSWORD" in line and "app password" in line
    assert f"ok    SMTP 127.0.0.1:{smtp.port}" in wrong_password.stdout  # the other check still runs

    missing = doctor(email_env(dovecot.imap_port, smtp.port, SIGNOFF_IMAP_FOLDER="Approvals"), tmp_path)
    line = failure(
        missing, f"IMAP {AGENT} at 127.0.0.1:{dovecot.imap_port} (tls off): cannot select folder 'Approvals'"
    )
    assert "SIGNOFF_IMAP_FOLDER" in line and "this mailbox has: INBOX" in line


def test_imap_tls_failures_name_the_setting(tmp_path: Path, smtp: SmtpServer) -> None:
    """TLS spoken to a plain port, and an untrusted certificate (the test CA is not trusted)."""
    ok, reason = dovecot_available()
    if not ok:
        skip_or_fail(reason)
    server = DovecotServer.start({AGENT: AGENT_PASSWORD}, tls=True)
    try:
        ssl_to_plain = doctor(email_env(server.imap_port, smtp.port, SIGNOFF_IMAP_TLS="ssl"), tmp_path)
        assert "SIGNOFF_IMAP_TLS must match the port" in failure(ssl_to_plain, "IMAP ").split("\n")[1]
        assert "TLS failed" in failure(ssl_to_plain, "IMAP ")

        untrusted = doctor(email_env(server.imaps_port, smtp.port, SIGNOFF_IMAP_TLS="ssl"), tmp_path)
        line = failure(untrusted, "IMAP ")
        assert "TLS failed" in line and "CERTIFICATE_VERIFY_FAILED" in line and "SSL_CERT_FILE" in line

        ca_file = tmp_path / "ca.pem"
        ca_file.write_bytes(server.ca_pem or b"")
        trusted = doctor(
            {**email_env(server.imaps_port, smtp.port, SIGNOFF_IMAP_TLS="ssl"), "SSL_CERT_FILE": str(ca_file)},
            tmp_path,
        )
        assert f"ok    IMAP {AGENT} at 127.0.0.1:{server.imaps_port} (tls ssl): logged in" in trusted.stdout
    finally:
        server.stop()


def test_smtp_checks_log_in_and_name_a_closed_port(tmp_path: Path) -> None:
    """SMTP needs no Dovecot: IMAP points at a closed port here, and fails on its own line."""
    closed_imap, closed_smtp = free_port(), free_port()
    server = SmtpServer.start(auth={"bot": "pw"})
    try:
        logged_in = doctor(
            email_env(closed_imap, server.port, SIGNOFF_SMTP_USER="bot", SIGNOFF_SMTP_PASSWORD="pw"), tmp_path
        )
        assert f"ok    SMTP 127.0.0.1:{server.port} (tls off):" in logged_in.stdout
        assert "logged in as bot; nothing sent" in logged_in.stdout
        line = failure(logged_in, f"IMAP {AGENT} at 127.0.0.1:{closed_imap} (tls off): cannot connect")
        assert "SIGNOFF_IMAP_HOST and SIGNOFF_IMAP_PORT" in line

        wrong = doctor(
            email_env(closed_imap, server.port, SIGNOFF_SMTP_USER="bot", SIGNOFF_SMTP_PASSWORD="no"), tmp_path
        )
        assert "SIGNOFF_SMTP_PASSWORD" in failure(wrong, f"SMTP 127.0.0.1:{server.port} (tls off): login refused: 535")
        assert server.messages == []
    finally:
        server.stop()

    refused = doctor(email_env(closed_imap, closed_smtp), tmp_path)
    assert refused.returncode == 1
    line = failure(refused, f"SMTP 127.0.0.1:{closed_smtp} (tls off): cannot connect")
    assert "SIGNOFF_SMTP_HOST and SIGNOFF_SMTP_PORT" in line


def test_email_settings_serve_would_refuse_are_named(tmp_path: Path) -> None:
    result = doctor(
        {
            "SIGNOFF_EMAIL_ADDRESS": AGENT,
            "SIGNOFF_IMAP_HOST": "127.0.0.1",
        },
        tmp_path,
    )
    assert "SIGNOFF_SECRET_KEY" in failure(result, "email configuration")
    assert "SIGNOFF_IMAP_PASSWORD is not set" in failure(result, "IMAP configuration")
    assert "SIGNOFF_SMTP_HOST is not set" in failure(result, "SMTP configuration")


def test_requests_sent_where_no_channel_is_configured_are_named(
    healthy_env: dict[str, str], fake: FakeSlack, tmp_path: Path
) -> None:
    """Slack is configured, email is not: every place that needs mail is named, with what to set."""
    from tests.scenario.test_one_request_in_several_places_is_decided_once import PLACES_AGENT

    result = doctor({**healthy_env, **slack_env(fake), **PLACES_AGENT}, tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    for where in ("agent ops", "tool deploy_prod"):
        line, fix = failure(result, f"requests to {where}: email, where no channel is configured").splitlines()
        assert "SIGNOFF_EMAIL_ADDRESS" in fix, fix
    assert "requests to agent ops: slack" not in result.stdout  # Slack is there: its places are fine
