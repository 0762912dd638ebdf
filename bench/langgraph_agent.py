"""The baseline: the same two-step agent written as a LangGraph graph, on its SQLite checkpointer.

model -> (tool call?) -> tools -> model -> ... -> END. The gated tool calls `interrupt()` inside
the tools node and runs after `Command(resume=True)`: LangGraph's documented way to put a human
before a tool, and its shortest path from a resume to the tool (no separate review node, so no
extra superstep). State is a list of plain OpenAI-style message dicts, the lightest state
LangGraph can checkpoint. The model is reached through litellm, as Signoff reaches it.

Only the benchmarks import this (LangGraph is in bench/requirements.txt, never in the product's).
"""

from __future__ import annotations

import operator
import sqlite3
import time
from pathlib import Path
from typing import Annotated, Any, TypedDict

from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command, interrupt

GATED = {"act"}
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "act",
            "description": "Do something risky. Needs a human's approval.",
            "parameters": {
                "type": "object",
                "properties": {"n": {"type": "integer"}, "reason": {"type": "string"}},
                "required": ["n", "reason"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "lookup",
            "description": "Look a key up.",
            "parameters": {"type": "object", "properties": {"key": {"type": "string"}}, "required": ["key"]},
        },
    },
]


class State(TypedDict):
    messages: Annotated[list[dict[str, Any]], operator.add]


class Nodes:
    """The graph's two nodes; `started` holds each gated tool's start stamp by thread id."""

    def __init__(self, model_url: str | None) -> None:
        self.model_url = model_url
        self.started: dict[str, float] = {}

    def graph(self) -> StateGraph[State]:
        """model -> (tool call?) -> tools -> model ... -> END, not compiled: LangGraph Server
        (bench/_langgraph_server_graph.py) compiles it with its own checkpointer."""
        graph = StateGraph(State)
        graph.add_node("model", self._model)
        graph.add_node("tools", self._tools)
        graph.add_edge(START, "model")
        graph.add_conditional_edges("model", _route, ["tools", END])
        graph.add_edge("tools", "model")
        return graph

    def _model(self, state: State) -> dict[str, Any]:
        import litellm

        response = litellm.completion(
            model="openai/fake",
            api_base=self.model_url,
            api_key="x",
            messages=state["messages"],
            tools=TOOLS,
            tool_choice="auto",
            num_retries=0,
        )
        message = response.choices[0].message
        out: dict[str, Any] = {"role": "assistant", "content": message.content}
        if message.tool_calls:
            out["tool_calls"] = [
                {
                    "id": c.id,
                    "type": "function",
                    "function": {"name": c.function.name, "arguments": c.function.arguments},
                }
                for c in message.tool_calls
            ]
        return {"messages": [out]}

    def _tools(self, state: State, config: RunnableConfig) -> dict[str, Any]:
        import json

        call = state["messages"][-1]["tool_calls"][0]
        name = call["function"]["name"]
        if name in GATED:
            decision = interrupt({"tool": name, "arguments": call["function"]["arguments"]})
            if not decision:
                return {"messages": [{"role": "tool", "tool_call_id": call["id"], "content": "denied"}]}
            started = time.monotonic()
            self.started[str(config.get("configurable", {})["thread_id"])] = started
            result = f"started_at={started:.9f}"
        else:
            result = f"{json.loads(call['function']['arguments']).get('key')}=ok"
        return {"messages": [{"role": "tool", "tool_call_id": call["id"], "content": result}]}


class LangGraphAgent(Nodes):
    """The graph compiled on one SQLite checkpointer file, called in-process."""

    def __init__(self, path: Path, model_url: str | None) -> None:
        from langgraph.checkpoint.sqlite import SqliteSaver

        super().__init__(model_url)
        self.conn = sqlite3.connect(str(path), check_same_thread=False)
        self.saver = SqliteSaver(self.conn)
        self.app = self.graph().compile(checkpointer=self.saver)

    def start(self, thread_id: str, text: str) -> Any:
        return self.app.invoke({"messages": [{"role": "user", "content": text}]}, _config(thread_id))

    def resume(self, thread_id: str, approved: bool = True) -> Any:
        return self.app.invoke(Command(resume=approved), _config(thread_id))

    def close(self) -> None:
        self.conn.close()


def _route(state: State) -> str:
    return "tools" if state["messages"][-1].get("tool_calls") else END


def _config(thread_id: str) -> Any:
    return {"configurable": {"thread_id": thread_id}}
