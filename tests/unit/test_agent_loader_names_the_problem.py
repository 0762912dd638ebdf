"""SIGNOFF_AGENT mistakes are reported as what they are, with the fix."""

from __future__ import annotations

import pytest

from bot.agent_loader import load_agent
from bot.errors import AgentLoadError


def test_a_misspelt_attribute_is_named_with_the_agents_that_exist() -> None:
    with pytest.raises(AgentLoadError) as raised:
        load_agent("bot.example_agent:agnet")
    message = str(raised.value)
    assert "has no attribute 'agnet'" in message
    assert "agents defined there: agent" in message
    assert "NoneType" not in message


def test_a_module_without_an_attribute_says_how_to_name_one() -> None:
    with pytest.raises(AgentLoadError, match="module:attribute"):
        load_agent("bot.example_agent")


def test_an_attribute_that_is_not_an_agent_says_what_it_is() -> None:
    with pytest.raises(AgentLoadError, match="is module, not an agent.Agent"):
        load_agent("bot.example_agent:inventory")


def test_a_module_that_does_not_import_points_at_pythonpath() -> None:
    with pytest.raises(AgentLoadError, match="PYTHONPATH"):
        load_agent("no_such_module_here:agent")
