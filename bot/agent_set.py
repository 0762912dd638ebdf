"""The agents a deployment runs, by name, with the router that picks one for a new conversation.

Without SIGNOFF_CONFIG it is the one agent SIGNOFF_AGENT names, under its own name, with no routes.
With it, each `[agents.NAME]` entry is loaded (and checked) under NAME: a thread records NAME and
keeps that agent for its whole life.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from agent.definition import Agent
from bot.agent_loader import load_agent
from bot.deployment import Deployment, load_deployment
from bot.errors import AgentLoadError, ConfigError
from bot.mcp_tools import McpTools
from bot.routing import Router
from bot.settings import Settings
from storage.db import Database


class UnknownAgent(LookupError):
    """A thread names an agent this deployment no longer runs."""


@dataclass
class Agents(Mapping[str, Agent]):
    by_name: dict[str, Agent]
    router: Router
    deployment: Deployment | None = None
    specs: dict[str, str] = field(default_factory=dict)  # name -> module:attribute

    @classmethod
    def single(cls, agent: Agent, spec: str = "") -> Agents:
        return cls({agent.name: agent}, Router(agent.name), None, {agent.name: spec})

    @property
    def default(self) -> Agent:
        return self.by_name[self.router.default]

    @property
    def several(self) -> bool:
        return self.deployment is not None

    def __getitem__(self, name: str) -> Agent:
        return self.by_name[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.by_name)

    def __len__(self) -> int:
        return len(self.by_name)

    def for_thread(self, name: str) -> Agent:
        """The agent that steps a thread recording `name`; with one agent (no SIGNOFF_CONFIG), that
        one, whatever name older threads recorded (as before several agents existed)."""
        agent = self.by_name.get(name) if self.several else self.default
        if agent is None:
            raise UnknownAgent(
                f"this thread's agent {name!r} is not among the agents this deployment runs "
                f"({', '.join(self.by_name)}); add it back to SIGNOFF_CONFIG to resume it"
            )
        return agent


def router_for(deployment: Deployment) -> Router:
    slack: dict[str, str] = {}
    emails: dict[str, str] = {}
    keywords: dict[str, str] = {}
    for name, entry in deployment.agents.items():
        slack.update(dict.fromkeys(entry.slack_channels, name))
        emails.update(dict.fromkeys((e.lower() for e in entry.emails), name))
        keywords.update(dict.fromkeys((k.lower().lstrip("/") for k in entry.keywords), name))
    return Router(deployment.default_agent, slack, emails, keywords)


def load_agents(settings: Settings, db: Database | None = None) -> Agents:
    """Every agent of the deployment, loaded and checked; ConfigError or AgentLoadError names what is wrong."""
    if not settings.config:
        return Agents.single(load_agent(settings.agent, db), settings.agent)
    deployment = load_deployment(settings.config)
    loaded: dict[str, Agent] = {}
    problems: list[str] = []
    for name, entry in deployment.agents.items():
        try:
            loaded[name] = load_agent(entry.agent, db)
        except AgentLoadError as exc:
            problems.append(f"[agents.{name}] {exc}".replace("SIGNOFF_AGENT=", "agent = "))
    if problems:
        raise ConfigError(f"SIGNOFF_CONFIG={settings.config}: " + "; ".join(problems))
    shared = [n for n, a in loaded.items() if [m for m, b in loaded.items() if b is a and m != n]]
    if shared:
        raise ConfigError(
            f"SIGNOFF_CONFIG={settings.config}: agents {', '.join(shared)} are the same Agent object; "
            "give each entry its own Agent (each keeps its own tools and approvers)"
        )
    for name, entry in deployment.agents.items():
        for server, mcp in entry.mcp.items():
            # Its tools are known only once it runs: any one not listed read_only needs someone to approve it.
            if not (mcp.approvers or loaded[name].approvers or settings.approver_list):
                problems.append(
                    f"[agents.{name}.mcp.{server}]: nobody may approve its tools (every one not listed in "
                    "read_only needs approval): set approvers = [...] there, on the agent, or SIGNOFF_APPROVERS"
                )
    if problems:
        raise ConfigError(f"SIGNOFF_CONFIG={settings.config}: " + "; ".join(problems))
    return Agents(loaded, router_for(deployment), deployment, {n: e.agent for n, e in deployment.agents.items()})


def mcp_tools_of(agents: Agents) -> McpTools | None:
    """The MCP connections of every agent that uses MCP servers, or None."""
    if agents.deployment is None:
        return None
    used = {n: (agents[n], dict(e.mcp)) for n, e in agents.deployment.agents.items() if e.mcp}
    return McpTools(used) if used else None
