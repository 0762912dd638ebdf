"""The deployment files say what the README promises, and stay in step with the code's settings:
the compose file's order and restart policy, stop timeouts longer than the shutdown grace, the
image's user, base, health check and host default. (The image itself is exercised by tests/container.)"""

from __future__ import annotations

import configparser
import re
from pathlib import Path

import yaml

from bot.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
GRACE = Settings.model_fields["shutdown_grace"].default


def seconds(text: str) -> float:
    found = re.fullmatch(r"(\d+)s?", text.strip())
    assert found, text
    return float(found.group(1))


def test_compose_migrates_once_before_two_replicas_that_do_not_restart_forever() -> None:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    services = compose["services"]
    assert services["migrate"]["command"] == ["db", "upgrade"] and services["migrate"]["restart"] == "no"
    assert services["migrate"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    replicas = [name for name, service in services.items() if service.get("command") is None and name != "postgres"]
    assert replicas == ["signoff-a", "signoff-b"]
    for name in replicas:
        service = services[name]
        assert service["depends_on"] == {
            "postgres": {"condition": "service_healthy"},
            "migrate": {"condition": "service_completed_successfully"},
        }
        assert re.fullmatch(r"on-failure:\d", service["restart"]), service["restart"]  # a bounded number of tries
        assert seconds(service["stop_grace_period"]) > GRACE
        assert all(port.startswith("127.0.0.1:") for port in service["ports"])
    assert "healthcheck" in services["postgres"]


def test_the_example_env_file_names_only_real_settings() -> None:
    names = {line.split("=", 1)[0].lstrip("# ") for line in (ROOT / "deploy" / "signoff.env.example").read_text().splitlines()
             if re.match(r"#? ?[A-Z_]+=", line)}  # fmt: skip
    known = {str(field.validation_alias.choices[0]) for field in Settings.model_fields.values()}  # type: ignore[union-attr]
    assert {n for n in names if not n.startswith("POSTGRES_")} <= known


def test_the_systemd_unit_waits_longer_than_the_grace_and_stops_restarting() -> None:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read_string((ROOT / "deploy" / "signoff.service").read_text())
    service = unit["Service"]
    assert service["ExecStart"].endswith("signoff serve") and service["Restart"] == "on-failure"
    assert seconds(service["TimeoutStopSec"]) > GRACE
    assert int(service["StartLimitBurst"]) <= 5
    assert service["User"] != "root"


def test_the_image_is_configured_from_the_environment_as_a_non_root_user() -> None:
    text = (ROOT / "Containerfile").read_text()
    assert re.search(r"^ARG BASE=docker\.io/library/\S+", text, re.M)
    assert text.count("FROM ${BASE}") == 2  # a build stage and the image
    assert re.search(r"^USER signoff$", text, re.M) and "--uid 10001" in text
    check = re.search(r"^HEALTHCHECK .*?\n    CMD (.*)$", text, re.M)
    assert check and "/readyz" in check.group(1) and check.group(1).startswith('["python3"')  # no curl in the image
    assert "SIGNOFF_HOST=0.0.0.0" in text and Settings.model_fields["host"].default == "127.0.0.1"
    assert "SIGNOFF_ENV_FILE=/dev/null" in text
    assert re.search(r'^ENTRYPOINT \["signoff"\]\nCMD \["serve"\]$', text, re.M)
    assert "VOLUME /var/lib/signoff" in text
