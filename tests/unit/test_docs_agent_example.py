"""docs/agents.md's complete example is real: its files are written out, imported and run."""

from __future__ import annotations

import importlib
import inspect
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from bot.agent_loader import load_agent
from bot.agent_set import router_for
from bot.deployment import load_deployment

DOC = Path(__file__).resolve().parents[2] / "docs" / "agents.md"
FILE_BLOCK = re.compile(r"```\w*\n# file: (?P<path>\S+)\n(?P<body>.*?)```", re.S)


@pytest.fixture
def example(tmp_path: Path) -> Iterator[Path]:
    files = {m["path"]: m["body"] for m in FILE_BLOCK.finditer(DOC.read_text())}
    assert set(files) == {"myagents/billing_prompt.txt", "myagents/billing.py", "test_billing.py"}
    for name, body in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(body)
    (tmp_path / "myagents" / "__init__.py").write_text("")
    sys.path.insert(0, str(tmp_path))
    try:
        yield tmp_path
    finally:
        sys.path.remove(str(tmp_path))
        for name in [n for n in sys.modules if n == "myagents" or n.startswith("myagents.") or n == "test_billing"]:
            del sys.modules[name]


async def test_the_documented_agent_loads_and_its_documented_test_passes(example: Path) -> None:
    agent = load_agent("myagents.billing:agent")
    prompt = agent.system_prompt()
    assert "- refund (needs human approval): Refund part or all of an order. Needs a human's approval." in prompt
    assert 'Tool results look like {"order": "A-1", "total_cents": 1200}' in prompt  # braces are text
    assert "Orders are named like A-1." in prompt  # {description}
    order_total = agent.tool_schemas()[0]["function"]
    assert order_total["parameters"]["properties"]["order"]["description"] == "The order's id, e.g. A-1."
    refund = agent.tool_schemas()[1]["function"]["parameters"]
    assert refund["required"] == ["order", "amount_cents", "reason"]

    documented_test: ModuleType = importlib.import_module("test_billing")
    tests = [
        f for name, f in vars(documented_test).items() if name.startswith("test_") and inspect.iscoroutinefunction(f)
    ]
    assert len(tests) == 1
    await tests[0]()


def test_the_readmes_two_agent_file_loads_with_the_documented_agent(
    example: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The README's two-agent deployment file, with docs/agents.md's billing agent: it loads as
    written and routes as the README says."""
    readme = (DOC.parents[1] / "README.md").read_text()
    section = readme.split("## Several agents, triggers and MCP tools", 1)[1].split("\n## ", 1)[0]
    [written] = re.findall(r"```toml\n(.*?)```", section, re.S)
    (example / "signoff.toml").write_text(written)
    monkeypatch.setenv("GITHUB_HOOK_SECRET", "a-webhook-secret-of-20")
    deployment = load_deployment(example / "signoff.toml")
    assert {name: load_agent(entry.agent).name for name, entry in deployment.agents.items()} == {
        "ops": "signoff-ops",
        "billing": "billing",
    }
    router = router_for(deployment)
    assert router.route("email", {"to": ["agent+money@example.com"]}, "Subject: refund") == "billing"
    assert router.route("slack", {"channel": "C0OPS"}, "<@UBOT> billing invoice 7?") == "billing"
    assert router.route("slack", {"channel": "C0OPS"}, "<@UBOT> restart web") == "ops"
    assert set(deployment.hooks) == {"github"} and deployment.schedules["overdue"].agent == "billing"
