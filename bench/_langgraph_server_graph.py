"""The graph LangGraph Server serves in bench/langgraph_server.py: bench/langgraph_agent.py's,
compiled without a checkpointer (the server brings its own), its model at BENCH_MODEL_URL."""

from __future__ import annotations

import os

from bench.langgraph_agent import Nodes

graph = Nodes(os.environ["BENCH_MODEL_URL"]).graph().compile()
