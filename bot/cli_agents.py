"""`signoff agents list|check`: the deployment's agents, and what goes where."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING

import click

from bot.errors import BotError, ConfigError

if TYPE_CHECKING:
    from bot.deployment import Deployment, McpEntry


async def _mcp_line(agent: str, server: str, entry: McpEntry) -> str:
    """What an MCP server offers the agent, or ConfigError when it cannot be reached."""
    from bot.mcp_tools import McpUnavailable, probe

    try:
        tools = await probe(agent, server, entry)
    except McpUnavailable as exc:
        raise ConfigError(f"[agents.{agent}.mcp.{server}]: {exc}") from exc
    gated = [t.name for t in tools if t.needs_approval]
    return (
        f"mcp {server} of agent {agent}: {len(tools)} tools "
        f"({', '.join(t.name for t in tools) or 'none'}); approval needed for {', '.join(gated) or 'none'}"
    )


def trigger_lines(deployment: Deployment) -> list[str]:
    """Each webhook and schedule of the deployment file, and where it goes."""
    lines = []
    for hook_name, hook in deployment.hooks.items():
        ask = f", asks on {hook.ask}" if hook.ask else ""
        lines.append(f"hook POST /hooks/{hook_name} ({hook.form} signature) -> {hook.agent}{ask}")
    for schedule_name, schedule in deployment.schedules.items():
        ask = f", asks on {schedule.ask}" if schedule.ask else ""
        lines.append(
            f"schedule {schedule_name} '{schedule.cron}' UTC (catch-up {schedule.catch_up}) -> {schedule.agent}{ask}"
        )
    return lines


async def mcp_lines(deployment: Deployment) -> list[str]:
    """What each agent's MCP servers offer; ConfigError naming the first one that cannot be reached."""
    return [
        await _mcp_line(name, server, mcp)
        for name, entry in deployment.agents.items()
        for server, mcp in entry.mcp.items()
    ]


def describe(echo: Callable[[str], None], *, routes: bool) -> None:
    """Load every agent (raising BotError naming the first thing wrong) and print them and their routes."""
    from bot.agent_set import load_agents
    from bot.approver_check import nobody_to_approve, too_few_approvers
    from bot.settings import load_settings

    settings = load_settings()
    agents = load_agents(settings)
    for name, agent in agents.items():
        gated = [t.name for t in agent.tools.values() if t.needs_approval]
        default = " (default)" if name == agents.router.default else ""
        echo(
            f"agent {name}{default}: {agents.specs.get(name) or settings.agent}, {len(agent.tools)} tools, "
            f"approval needed for {', '.join(gated) or 'none'}"
        )
        problem = nobody_to_approve(agent, settings.approver_list) or too_few_approvers(agent, settings.approver_list)
        if problem:
            raise ConfigError(problem)
    if not routes:
        return
    if agents.deployment is not None:
        for line in asyncio.run(mcp_lines(agents.deployment)):
            echo(line)
    for what, name in agents.router.routes():
        echo(f"route {what} -> {name}")
    if agents.deployment is not None:
        for line in trigger_lines(agents.deployment):
            echo(line)


@click.group()
def agents() -> None:
    """The agents this deployment runs (SIGNOFF_CONFIG, else SIGNOFF_AGENT)."""


@agents.command("list")
def agents_list() -> None:
    """List the agents."""
    try:
        describe(click.echo, routes=False)
    except BotError as exc:
        raise click.ClickException(str(exc)) from exc


@agents.command("check")
def agents_check() -> None:
    """Load each agent, check its prompt, tools and approvers and every route, hook and schedule;
    print what goes where. Exits non-zero naming what is wrong."""
    try:
        describe(click.echo, routes=True)
    except BotError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo("ok")
