"""Signoff's agent core: typed events, a pure reducer, tools from typed functions.

No channel, storage or web code is imported here.
"""

from agent.definition import APPROVERS, PARTICIPANTS, Agent, Startup
from agent.events import Event, parse_event
from agent.grants import Grants
from agent.tools import Tool, ToolContext

__all__ = ["APPROVERS", "PARTICIPANTS", "Agent", "Event", "Grants", "Startup", "Tool", "ToolContext", "parse_event"]
