"""`signoff doctor`: check configuration and connectivity, and say how to fix what is wrong."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from bot.errors import BotError, ConfigError

if TYPE_CHECKING:
    from bot.deployment import Deployment

Echo = Callable[[str], None]

CHANNEL_TIMEOUT = 5.0  # seconds for each network step of a channel check: doctor never hangs


class Report:
    """What doctor prints, line by line, and whether every check passed."""

    def __init__(self, echo: Echo) -> None:
        self.echo = echo
        self.ok = True

    def good(self, what: str) -> None:
        self.echo(f"ok    {what}")

    def bad(self, what: str, fix: str) -> None:
        self.ok = False
        self.echo(f"FAIL  {what}\n      fix: {fix}")

    def warn(self, what: str) -> None:
        self.echo(f"warn  {what}")


async def check_deployment(deployment: Deployment, report: Report) -> None:
    """The deployment file's hooks and schedules, and whether each agent's MCP servers answer."""
    from bot.cli_agents import mcp_lines, trigger_lines

    for line in trigger_lines(deployment):
        report.good(line)
    try:  # each server is given 15 s (bot/mcp_tools.py `probe`)
        for line in await mcp_lines(deployment):
            report.good(line)
    except ConfigError as exc:
        report.bad(str(exc), "check the server's command (or url) and env in SIGNOFF_CONFIG, and that it starts")


async def run_checks(echo: Echo) -> bool:
    report = Report(echo)
    good, bad = report.good, report.bad

    from bot.settings import load_settings

    try:
        settings = load_settings()
    except BotError as exc:
        bad("configuration", str(exc))
        return False
    good("configuration read")

    from storage import migrate
    from storage.db import Database

    schema_current = False
    try:
        db = Database(settings.database_url)
        schema = migrate.inspect(db)
        problem = schema.problem(db.safe_url)
        schema_current = problem is None
        if problem is None:
            newer = "" if schema.revision == schema.head else f" (newer than this release's {schema.head}, compatible)"
            good(f"database {db.dialect} reachable, schema at {schema.revision}{newer}")
        else:
            bad(f"database schema at {schema.revision}, code expects {schema.head}", problem)
    except Exception as exc:
        bad(f"database {settings.database_url}: {exc}", "check SIGNOFF_DATABASE_URL and that the server runs")
        db = None

    from bot.agent_set import load_agents
    from bot.approver_check import named, nobody_by_that_name, nobody_to_approve, too_few_approvers
    from bot.place_check import configured_channels, unreachable_places
    from storage.store import Store

    try:
        loaded = load_agents(settings, db)
        for name, agent in loaded.items():
            gated = [t.name for t in agent.tools.values() if t.needs_approval]
            good(f"agent {name}: {len(agent.tools)} tools, approval needed for {', '.join(gated) or 'none'}")
            problem = nobody_to_approve(agent, settings.approver_list)
            people = None
            if problem is None and db is not None and schema_current:
                people = Store(db).people_for(named(agent, settings.approver_list))
                problem = nobody_by_that_name(agent, settings.approver_list, people)
            problem = problem or too_few_approvers(agent, settings.approver_list, people)
            if problem:
                what, _, fix = problem.partition(". ")
                bad(what, fix)
            for place, fix in unreachable_places(agent, configured_channels(settings)):
                bad(f"requests to {place}, where no channel is configured", fix)
        if loaded.several:
            for what, name in loaded.router.routes():
                good(f"route {what} -> {name}")
        if loaded.deployment is not None:
            await check_deployment(loaded.deployment, report)
    except BotError as exc:
        bad("agent", str(exc))

    if settings.agent_is_webhook:  # no model here: the agent that lives elsewhere has its own
        where = urlsplit(settings.webhook_url or "").netloc  # never its path or query: they may hold a token
        good(f"the agent lives elsewhere: what people send it is posted to {where} (SIGNOFF_WEBHOOK_URL)")
    elif not settings.model:
        bad(
            "no model configured",
            "set SIGNOFF_MODEL (a litellm model string, e.g. openai/gpt-4o-mini) "
            "and SIGNOFF_MODEL_API_KEY; SIGNOFF_MODEL_API_BASE for a local OpenAI-compatible server",
        )
    else:
        from agent.errors import ModelCallFailed
        from bot.runtime import model_client

        client = model_client(settings)
        try:
            await client.complete([{"role": "user", "content": "Reply with the word ok."}], [])
            good(f"model {settings.model} answered")
        except ModelCallFailed as exc:
            bad(
                f"model {settings.model}: {exc}",
                "check SIGNOFF_MODEL, SIGNOFF_MODEL_API_KEY and SIGNOFF_MODEL_API_BASE",
            )

    if settings.slack_enabled:
        from bot.doctor_slack import check_slack

        await check_slack(settings, report, CHANNEL_TIMEOUT)
    if settings.email_enabled:
        from bot.doctor_email import check_email

        await check_email(settings, report, CHANNEL_TIMEOUT)

    if settings.api_token is None:
        report.warn("SIGNOFF_API_TOKEN is not set: the HTTP API answers 401 until it is")
    return report.ok
