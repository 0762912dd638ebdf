"""The deployment file (`SIGNOFF_CONFIG`, TOML): several agents, their routes, webhooks and schedules.

    default = "ops"                       # the agent a message no route claims goes to

    [agents.ops]
    agent = "bot.example_agent:agent"     # module:attribute of the Agent
    slack_channels = ["C0OPS"]            # a new conversation in these Slack channels
    emails = ["ops@example.com", "+ops"]  # mail to these addresses, or to any address+ops@
    keywords = ["ops"]                    # a message whose first word is `ops` or `/ops`, or Slack's /ops command

    [hooks.github]
    agent = "ops"
    secret_env = "GITHUB_HOOK_SECRET"     # or secret = "..."
    form = "github"                       # X-Hub-Signature-256; "generic": X-Signoff-Signature
    template = "GitHub {event}: {payload.action} on {payload.repository.full_name}"
    key = "payload.pull_request.number"   # optional: same key, same thread
    ask = "slack:C0ONCALL"                # where its thread asks its humans

    [schedules.nightly]
    agent = "ops"
    cron = "0 3 * * *"                    # UTC
    message = "Check every service and restart what is stuck."
    catch_up = "once"                     # after downtime: "skip" (default) or "once"
    ask = "email:oncall@example.com"

Every problem is gathered and reported at once, naming the entry (`load_deployment`).
"""

from __future__ import annotations

import os
import re
import tomllib
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from bot.errors import ConfigError

NAME = r"^[a-z0-9][a-z0-9_-]{0,62}$"
MAX_CONFIG_BYTES = 1_000_000


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class McpToolPolicy(_Strict):
    """One MCP tool's approval policy, overriding its server's."""

    needs_approval: bool = True
    approvers: list[str] = []
    required: int = Field(1, ge=1, le=20)


class McpEntry(_Strict):
    """An MCP server whose tools an agent uses: a stdio `command`, or a streamable HTTP `url`.

    Every tool needs approval unless `read_only` lists it (or `tools.NAME.needs_approval = false`)."""

    command: list[str] = []
    url: str | None = Field(None, pattern=r"^https?://")
    env: dict[str, str] = {}
    read_only: list[str] = []
    approvers: list[str] = []
    tools: dict[str, McpToolPolicy] = {}
    timeout_seconds: float = Field(30.0, gt=0, le=3600)


class AgentEntry(_Strict):
    agent: str = Field(pattern=r"^[\w.]+:\w+$")
    slack_channels: list[str] = []
    emails: list[str] = []
    keywords: list[str] = []
    mcp: dict[str, McpEntry] = {}


class HookEntry(_Strict):
    agent: str
    secret: SecretStr | None = None
    secret_env: str | None = None
    form: Literal["github", "generic"] = "generic"
    template: str = Field(min_length=1, max_length=20_000)
    key: str | None = None
    tolerance_seconds: int = Field(300, ge=1, le=86_400)
    ask: str | None = None

    def secret_value(self) -> bytes:
        if self.secret is not None:
            return self.secret.get_secret_value().encode()
        return os.environ.get(self.secret_env or "", "").encode()


class ScheduleEntry(_Strict):
    agent: str
    cron: str
    message: str = Field(min_length=1, max_length=20_000)
    catch_up: Literal["skip", "once"] = "skip"
    ask: str | None = None


class Deployment(_Strict):
    default: str | None = None
    agents: dict[str, AgentEntry] = {}
    hooks: dict[str, HookEntry] = {}
    schedules: dict[str, ScheduleEntry] = {}

    @property
    def default_agent(self) -> str:
        return self.default or next(iter(self.agents))


def parse_ask(value: str) -> tuple[str, str]:
    """`slack:C0ONCALL` or `email:oncall@example.com` as (channel, where)."""
    channel, _, where = value.partition(":")
    if channel not in ("slack", "email") or not where:
        raise ValueError(f"ask = {value!r}: must be slack:<channel id> or email:<address>")
    if channel == "email" and "@" not in where:
        raise ValueError(f"ask = {value!r}: {where!r} is not an email address")
    return channel, where


def valid_cron(expression: str) -> str | None:
    """What is wrong with a cron expression, or None."""
    from croniter import croniter

    if len(expression) > 200 or len(expression.split()) not in (5, 6):
        return "must have 5 fields (minute hour day month weekday), e.g. 0 3 * * *"
    try:
        croniter(expression, datetime(2000, 1, 1, tzinfo=UTC)).get_next(datetime)
    except (ValueError, KeyError, TypeError) as exc:
        return f"is not a cron expression ({exc})"
    return None


def problems(deployment: Deployment) -> list[str]:
    """Everything wrong with the file beyond its shape: unknown agents, routes claimed twice, bad cron."""
    found: list[str] = []
    names = set(deployment.agents)
    if not names:
        found.append("no [agents.NAME] entry: declare at least one agent")
    for kind, entries in (
        ("agents", deployment.agents),
        ("hooks", deployment.hooks),
        ("schedules", deployment.schedules),
    ):
        found += [
            f"[{kind}.{n}]: the name must be lowercase letters, digits, - or _"
            for n in entries
            if not re.match(NAME, n)
        ]
    if deployment.default is not None and deployment.default not in names:
        found.append(f"default = {deployment.default!r}: no such agent (agents: {', '.join(sorted(names))})")
    claimed: dict[tuple[str, str], str] = {}
    for name, entry in deployment.agents.items():
        routes = [
            *(("Slack channel", c) for c in entry.slack_channels),
            *(("email", e.lower()) for e in entry.emails),
            *(("keyword", k.lower().lstrip("/")) for k in entry.keywords),
        ]
        for route in routes:
            other = claimed.setdefault(route, name)
            if other != name:
                found.append(f"{route[0]} {route[1]!r} is claimed by two agents: {other} and {name}")
        found += [f"[agents.{name}] keyword {k!r}: one word, no spaces" for k in entry.keywords if len(k.split()) != 1]
        found += [
            f"[agents.{name}] keyword {k!r}: the bot's own slash command (/signoff); choose another"
            for k in entry.keywords
            if k.lower().lstrip("/") == "signoff"
        ]
        for server, mcp in entry.mcp.items():
            if bool(mcp.command) == bool(mcp.url):
                found.append(f"[agents.{name}.mcp.{server}]: give exactly one of command (stdio) or url (HTTP)")
            if not re.match(r"^[a-z0-9][a-z0-9_]{0,30}$", server):
                found.append(f"[agents.{name}.mcp.{server}]: the name must be lowercase letters, digits or _")
    for kind, entries in (("hooks", deployment.hooks), ("schedules", deployment.schedules)):
        for name, trigger in entries.items():
            if trigger.agent not in names:
                found.append(f"[{kind}.{name}] agent = {trigger.agent!r}: no such agent")
            if trigger.ask is not None:
                try:
                    parse_ask(trigger.ask)
                except ValueError as exc:
                    found.append(f"[{kind}.{name}] {exc}")
    for name, hook in deployment.hooks.items():
        if (hook.secret is None) == (hook.secret_env is None):
            found.append(f"[hooks.{name}]: give exactly one of secret or secret_env")
        elif len(hook.secret_value()) < 16:
            found.append(
                f"[hooks.{name}]: the secret is missing or shorter than 16 characters ({hook.secret_env or 'secret'})"
            )
    for name, schedule in deployment.schedules.items():
        wrong = valid_cron(schedule.cron)
        if wrong:
            found.append(f"[schedules.{name}] cron = {schedule.cron!r} {wrong}")
    return found


def load_deployment(path: str | Path) -> Deployment:
    """Read and check the file; ConfigError names the file and every problem."""
    where = f"SIGNOFF_CONFIG={path}"
    try:
        raw = Path(path).read_bytes()[: MAX_CONFIG_BYTES + 1]
    except OSError as exc:
        raise ConfigError(f"{where}: cannot read it ({exc.strerror or exc})") from exc
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{where}: larger than {MAX_CONFIG_BYTES} bytes")
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{where}: not valid TOML ({exc})") from exc
    try:
        deployment = Deployment.model_validate(data)
    except ValidationError as exc:
        lines = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
        raise ConfigError(f"{where}: " + "; ".join(lines)) from exc
    found = problems(deployment)
    if found:
        raise ConfigError(f"{where}: " + "; ".join(found))
    return deployment
