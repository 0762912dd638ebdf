"""Load the agent named by SIGNOFF_AGENT (`module:attribute`)."""

from __future__ import annotations

import importlib

from agent.definition import Agent
from agent.errors import AgentDefinitionError
from bot.errors import AgentLoadError
from storage.db import Database


def load_agent(spec: str, db: Database | None = None) -> Agent:
    """Import the agent; if its module has `bind(db)`, give it the database (for tools' state)."""
    module_name, _, attribute = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise AgentLoadError(
            f"SIGNOFF_AGENT={spec}: cannot import {module_name!r} ({exc}); is it on PYTHONPATH?"
        ) from exc
    except AgentDefinitionError as exc:  # raised while the module defines its agent: a bad prompt, say
        raise AgentLoadError(f"SIGNOFF_AGENT={spec}: {exc}") from exc
    agent = getattr(module, attribute, None)
    if not isinstance(agent, Agent):
        raise AgentLoadError(
            f"SIGNOFF_AGENT={spec}: {module_name}.{attribute} is {type(agent).__name__}, not an agent.Agent"
        )
    try:  # what every step shows the model: a prompt or a tool schema that cannot be made fails here, once
        agent.system_prompt()
        agent.tool_schemas()
    except Exception as exc:
        first_line = (str(exc).strip().splitlines() or [""])[0]
        raise AgentLoadError(
            f"SIGNOFF_AGENT={spec}: agent {agent.name} cannot describe itself to the model: "
            f"{type(exc).__name__}: {first_line}"
        ) from exc
    bind = getattr(module, "bind", None)
    if db is not None and callable(bind):
        bind(db)
    return agent
