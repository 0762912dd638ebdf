"""Load the agent named by SIGNOFF_AGENT (`module:attribute`, or `webhook` for one that lives elsewhere)."""

from __future__ import annotations

import importlib

from agent.definition import Agent, Startup
from agent.errors import AgentDefinitionError
from bot.agent_webhook import WEBHOOK_SPEC, webhook_agent
from bot.errors import AgentLoadError
from storage.db import Database


def load_agent(spec: str, db: Database | None = None) -> Agent:
    """Import the agent and, given the database (as `serve` does), build its dependencies.

    An agent built with `setup=` gets it called once with a `Startup`. A module-level `bind(db)`
    (how agents were given the database before `setup`) is still called, after `setup`.
    """
    if spec == WEBHOOK_SPEC:  # the agent lives elsewhere: a stand-in that never runs
        return webhook_agent()
    module_name, _, attribute = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise AgentLoadError(
            f"SIGNOFF_AGENT={spec}: cannot import {module_name!r} ({exc}); is it on PYTHONPATH?"
        ) from exc
    except AgentDefinitionError as exc:  # raised while the module defines its agent: a bad prompt, say
        raise AgentLoadError(f"SIGNOFF_AGENT={spec}: {exc}") from exc
    if not attribute:
        raise AgentLoadError(f"SIGNOFF_AGENT={spec}: name the agent as module:attribute, e.g. myagents.ops:agent")
    if not hasattr(module, attribute):
        defined = sorted(name for name, value in vars(module).items() if isinstance(value, Agent))
        hint = f"; agents defined there: {', '.join(defined)}" if defined else ""
        raise AgentLoadError(f"SIGNOFF_AGENT={spec}: module {module_name!r} has no attribute {attribute!r}{hint}")
    agent = getattr(module, attribute)
    if not isinstance(agent, Agent):
        raise AgentLoadError(
            f"SIGNOFF_AGENT={spec}: {module_name}.{attribute} is {type(agent).__name__}, not an agent.Agent"
        )
    try:
        agent.check()
    except AgentDefinitionError as exc:
        raise AgentLoadError(f"SIGNOFF_AGENT={spec}: {exc}") from exc
    try:  # what every step shows the model: a prompt or a tool schema that cannot be made fails here, once
        agent.system_prompt()
        agent.tool_schemas()
    except Exception as exc:
        first_line = (str(exc).strip().splitlines() or [""])[0]
        raise AgentLoadError(
            f"SIGNOFF_AGENT={spec}: agent {agent.name} cannot describe itself to the model: "
            f"{type(exc).__name__}: {first_line}"
        ) from exc
    if db is not None:
        agent.start(Startup(database=db, database_url=db.url))
        bind = getattr(module, "bind", None)
        if callable(bind):
            bind(db)
    return agent
