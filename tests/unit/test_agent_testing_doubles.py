"""The test doubles agent authors use (agent.testing) behave like the real thing."""

from __future__ import annotations

import pytest

from agent import Agent, ToolContext
from agent.events import Error, ToolResult
from agent.testing import Conversation, ScriptedModel, call, events_of, reply

transfers: list[tuple[str, int, str]] = []

bank = Agent("bank", description="Moves money.", approvers=["alice@example.com"])


@bank.tool
def balance(account: str) -> int:
    """Show an account's balance."""
    return 100 if account == "ops" else 0


@bank.tool(needs_approval=True)
def transfer(to: str, amount: int, ctx: ToolContext) -> str:
    """Send money. Needs approval."""
    transfers.append((to, amount, ctx.call_id))
    return f"sent {amount} to {to}"


@pytest.fixture(autouse=True)
def _clean() -> None:
    transfers.clear()


async def test_an_approved_call_runs_once_with_the_approved_arguments() -> None:
    model = ScriptedModel(call("transfer", to="acme", amount=40, reason="invoice 12"), reply("Paid acme."))
    talk = Conversation(bank, model)
    await talk.say("pay acme 40", by="bob@example.com")
    request = talk.waiting_for_approval()
    assert (request.tool, request.arguments, request.reason) == ("transfer", {"to": "acme", "amount": 40}, "invoice 12")
    assert transfers == []  # nothing runs before a human says yes

    await talk.approve(by="alice@example.com")
    assert [(to, amount) for to, amount, _ in transfers] == [("acme", 40)]
    assert talk.last_reply() == "Paid acme." and talk.status == "done"
    assert "sent 40 to acme" in model.calls[-1].text  # the model saw the tool's result


async def test_a_denial_reaches_the_model_and_nothing_runs() -> None:
    model = ScriptedModel(call("transfer", to="acme", amount=40, reason="x"), reply("Understood, not paying."))
    talk = Conversation(bank, model)
    await talk.say("pay acme 40")
    await talk.deny(by="alice@example.com", comment="wrong account")
    assert transfers == []
    assert "wrong account" in model.calls[-1].text


async def test_plain_tools_and_questions() -> None:
    model = ScriptedModel(
        call("balance", account="ops"),
        call("ask_human", question="Which currency?", options=["EUR", "USD"]),
        lambda messages, tools: reply("100 " + ("EUR" if "EUR" in str(messages) else "?")),
    )
    talk = Conversation(bank, model)
    await talk.say("how much is in ops?")
    assert [r.result for r in events_of(talk.events, ToolResult)] == ["100"]
    assert talk.waiting_for_answer().options == ["EUR", "USD"]
    await talk.answer("EUR", by="bob@example.com")
    assert talk.last_reply() == "100 EUR"
    assert model.calls[0].tool_names == ["balance", "transfer", "ask_human"]


async def test_bad_arguments_become_errors_the_model_sees() -> None:
    model = ScriptedModel(call("balance", acount="ops"), reply("Sorry."))
    talk = Conversation(bank, model)
    await talk.say("balance?")
    errors = events_of(talk.events, Error)
    assert len(errors) == 1 and "account" in errors[0].message
    assert "account" in model.calls[1].text


async def test_running_out_of_script_says_so() -> None:
    talk = Conversation(bank, ScriptedModel())
    await talk.say("hello")
    assert talk.status == "failed"
    assert "no answer for call 1" in events_of(talk.events, Error)[0].message
