"""Load the agent named by SIGNOFF_AGENT (`module:attribute`)."""

from __future__ import annotations

import importlib

from agent.definition import Agent
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
    bind = getattr(module, "bind", None)
    if db is not None and callable(bind):
        bind(db)
    return agent
