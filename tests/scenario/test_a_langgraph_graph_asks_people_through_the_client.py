"""The README's LangGraph example, run: a graph whose node asks through `signoff_client` and routes
on the outcome, and a LangGraph tool gated by `@signoff.require_approval` whose denial reaches the
model as the tool's answer (ToolNode's `handle_tool_errors` with a `NotApproved` handler).

A real `signoff serve` with Slack (signed requests, the fake Web API); the graph runs in this
process, against it, over HTTP. No model: the tool call is the AIMessage a model would send.
LangGraph is a test-only dependency here: bench/requirements.txt, which scripts/test installs."""

from __future__ import annotations

import json
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypedDict

from langchain_core.messages import AIMessage, ToolMessage
from langchain_core.tools import tool
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode

from channels.slack.blocks import APPROVE_ACTION_ID, DENY_ACTION_ID, EDIT_ACTION_ID, EDIT_CALLBACK_ID
from signoff_client import NotApproved, Signoff
from tests.support.fake_slack import FakeSlack
from tests.support.signoff_process import API_TOKEN, wait_until
from tests.support.slack_requests import view_submission
from tests.support.slack_signoff import (
    ALICE,
    MakeSlackBot,
    SlackSignoff,
    button_value,
    has_buttons,
    posted,
    wait_for_card,
)

APPROVALS = "C0APPROVALS"


class Release(TypedDict, total=False):
    version: str
    approved: bool
    comment: str
    done: str


def release_graph(signoff: Signoff) -> Any:
    """As in the README: ask in a node, route on `.approved`, release what was approved."""

    def ask(state: Release) -> Release:
        approval = signoff.request_approval(
            "release", {"version": state["version"]}, approvers=[ALICE], editable=True, expire_after=3600, timeout=90
        )
        return {"approved": approval.approved, "comment": approval.comment, "version": approval.arguments["version"]}

    def release(state: Release) -> Release:
        return {"done": f"released {state['version']}"}

    def stop(state: Release) -> Release:
        return {"done": f"not released: {state['comment']}"}

    graph = StateGraph(Release)
    graph.add_node("ask", ask)
    graph.add_node("release", release)
    graph.add_node("stop", stop)
    graph.add_edge(START, "ask")
    graph.add_conditional_edges("ask", lambda state: "release" if state["approved"] else "stop")
    graph.add_edge("release", END)
    graph.add_edge("stop", END)
    return graph.compile()


def test_a_graph_asks_in_a_node_and_releases_what_was_approved_after_an_edit(
    make_slack_bot: MakeSlackBot, fake: FakeSlack
) -> None:
    bot: SlackSignoff = make_slack_bot(SLACK_APPROVALS_CHANNEL=APPROVALS)
    app = release_graph(Signoff(bot.process.url, API_TOKEN))
    with ThreadPoolExecutor(1) as pool:
        result: Future[Release] = pool.submit(app.invoke, {"version": "2.3"})
        [(card_at, card)] = wait_for_card(fake)
        bot.click(EDIT_ACTION_ID, button_value(card), user=ALICE, card=card_at)
        fake.wait_for_sync("views.open")
        edited = view_submission(EDIT_CALLBACK_ID, button_value(card), {"arg:version": {"value": "2.3.1"}}, user=ALICE)
        assert bot.interaction(edited).status_code == 200
        state = result.result(timeout=60)
    assert state["done"] == "released 2.3.1" and state["approved"] is True


def test_a_gated_tool_runs_once_approved_and_a_denial_reaches_the_model(
    make_slack_bot: MakeSlackBot, fake: FakeSlack
) -> None:
    bot: SlackSignoff = make_slack_bot(SLACK_APPROVALS_CHANNEL=APPROVALS)
    signoff = Signoff(bot.process.url, API_TOKEN)
    runs: list[str] = []

    @tool
    @signoff.require_approval(approvers=[ALICE], expire_after=3600, timeout=90)  # a failed test never hangs
    def deploy(service: str, version: str) -> str:
        """Deploy a version of a service."""
        runs.append(f"{service} {version}")
        return f"deployed {service} {version}"

    def not_approved(error: NotApproved) -> str:
        return f"not run: {error}"

    graph = StateGraph(MessagesState)  # the tools step of an agent's graph (create_react_agent's)
    graph.add_node("tools", ToolNode([deploy], handle_tool_errors=not_approved))
    graph.add_edge(START, "tools")
    graph.add_edge("tools", END)
    tools = graph.compile()

    def call(n: int) -> dict[str, Any]:
        arguments = {"service": "web", "version": f"2.{n}"}
        return {"messages": [AIMessage("", tool_calls=[{"name": "deploy", "args": arguments, "id": f"call-{n}"}])]}

    with ThreadPoolExecutor(1) as pool:
        approved: Future[dict[str, Any]] = pool.submit(tools.invoke, call(1))
        [(card_at, card)] = wait_for_card(fake)
        bot.click(APPROVE_ACTION_ID, button_value(card), user=ALICE, card=card_at)
        [_, answer] = approved.result(timeout=60)["messages"]
        assert isinstance(answer, ToolMessage) and answer.content == "deployed web 2.1"

        denied: Future[dict[str, Any]] = pool.submit(tools.invoke, call(2))
        [(second_at, second)] = wait_until(
            lambda: [c for c in posted(fake, has_buttons) if "2.2" in json.dumps(c[1]["blocks"])], message="2.2's card"
        )
        bot.click(DENY_ACTION_ID, button_value(second), user=ALICE, card=second_at)
        fake.wait_for_sync("views.open", count=1)
        assert bot.submit_deny(button_value(second), "web is frozen until Monday", user=ALICE).is_success
        [_, refusal] = denied.result(timeout=60)["messages"]
    assert refusal.content == f"not run: denied by {ALICE}: web is frozen until Monday"
    assert runs == ["web 2.1"]
