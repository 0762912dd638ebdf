"""A new conversation goes to one agent: a keyword or slash word first, then the Slack channel, then
the address or plus-alias it was sent to, else the default. A deployment file with an unknown agent,
a route claimed twice, a bad cron or a hook without its secret is refused, naming each problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.deployment import load_deployment
from bot.errors import ConfigError
from bot.routing import Router

ROUTER = Router(
    "ops",
    slack_channels={"C0BILL": "billing"},
    emails={"billing@example.com": "billing", "+money": "billing"},
    keywords={"billing": "billing", "ops": "ops"},
)


@pytest.mark.parametrize(
    ("channel", "data", "text", "agent"),
    [
        ("api", {}, "billing: refund invoice 7", "billing"),
        ("api", {}, "/billing refund invoice 7", "billing"),
        ("api", {}, "restart payments", "ops"),
        ("slack", {"channel": "C0BILL"}, "<@UBOT> refund invoice 7", "billing"),
        ("slack", {"channel": "C0BILL"}, "<@UBOT> ops restart payments", "ops"),  # the keyword wins
        ("slack", {"channel": "C0OTHER"}, "<@UBOT> refund invoice 7", "ops"),
        # An agent's own slash command (`/billing ...` in any channel) wins over the words and the channel.
        ("slack", {"channel": "C0OTHER", "command": "/billing"}, "refund invoice 7", "billing"),
        ("slack", {"channel": "C0BILL", "command": "/ops"}, "billing: refund invoice 7", "ops"),
        ("slack", {"channel": "C0OTHER", "command": "/signoff"}, "refund invoice 7", "ops"),
        ("email", {"to": ["Billing@Example.com"]}, "Subject: refund", "billing"),
        ("email", {"to": ["agent+money@example.com"]}, "Subject: refund", "billing"),
        ("email", {"to": ["agent+other@example.com"]}, "Subject: refund", "ops"),
        ("email", {"to": "billing@example.com"}, "Subject: not a list", "ops"),
    ],
)
def test_the_first_matching_route_wins(channel: str, data: dict[str, object], text: str, agent: str) -> None:
    assert ROUTER.route(channel, data, text) == agent


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "signoff.toml"
    path.write_text(text)
    return path


def test_a_good_file_loads(tmp_path: Path) -> None:
    deployment = load_deployment(
        write(
            tmp_path,
            """
default = "ops"
[agents.ops]
agent = "bot.example_agent:agent"
keywords = ["ops"]
[agents.billing]
agent = "tests.support.billing_agent:agent"
slack_channels = ["C0BILL"]
[hooks.github]
agent = "ops"
secret = "0123456789abcdef0123"
form = "github"
template = "{event}: {payload.action}"
[schedules.nightly]
agent = "billing"
cron = "0 3 * * *"
message = "Send the overdue reminders."
catch_up = "once"
""",
        )
    )
    assert deployment.default_agent == "ops" and set(deployment.agents) == {"ops", "billing"}
    assert deployment.schedules["nightly"].catch_up == "once"


def test_every_problem_is_named_at_once(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
default = "nobody"
[agents.ops]
agent = "bot.example_agent:agent"
slack_channels = ["C0SAME"]
keywords = ["ops"]
[agents.billing]
agent = "tests.support.billing_agent:agent"
slack_channels = ["C0SAME"]
keywords = ["/OPS", "signoff"]
[hooks.github]
agent = "ghost"
secret_env = "NO_SUCH_VARIABLE_IS_SET"
template = "{event}"
[schedules.nightly]
agent = "billing"
cron = "every night"
message = "x"
ask = "teams:general"
""",
    )
    with pytest.raises(ConfigError) as raised:
        load_deployment(path)
    message = str(raised.value)
    for expected in (
        "default = 'nobody': no such agent",
        "Slack channel 'C0SAME' is claimed by two agents: ops and billing",
        "keyword 'ops' is claimed by two agents: ops and billing",
        "[agents.billing] keyword 'signoff': the bot's own slash command (/signoff); choose another",
        "[hooks.github] agent = 'ghost': no such agent",
        "[hooks.github]: the secret is missing or shorter than 16 characters (NO_SUCH_VARIABLE_IS_SET)",
        "[schedules.nightly] cron = 'every night' must have 5 fields",
        "[schedules.nightly] ask = 'teams:general': must be slack:<channel id> or email:<address>",
    ):
        assert expected in message, message


def test_unknown_keys_and_bad_toml_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="agents.ops.routes: Extra inputs are not permitted"):
        load_deployment(write(tmp_path, '[agents.ops]\nagent = "bot.example_agent:agent"\nroutes = []\n'))
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_deployment(write(tmp_path, "[agents.ops\n"))
    with pytest.raises(ConfigError, match="cannot read it"):
        load_deployment(tmp_path / "missing.toml")
