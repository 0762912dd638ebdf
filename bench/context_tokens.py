"""6. Context tokens: Signoff's rendered context against the same history as plain chat messages.

For the recorded threads of 10, 50 and 200 events (bench/recorded.py), count with a real tokenizer
(tiktoken's o200k_base, GPT-4o's) what the model is sent:
- ours: `agent.context.render_context` for the bundled example agent, as shipped (its token budget
  elides old tool output when the thread grows long), and with an unlimited budget (the format alone);
- baseline: the same history as an OpenAI chat-messages list (system prompt, user, assistant with
  tool_calls, tool), what a chat-history agent keeps and resends each turn.
Both sides are counted the same way: the tokens of every string in every message, plus OpenAI's
3 tokens of framing per message and 3 to prime the answer. Tool schemas are the same on both sides
and left out.

Run: python -m bench.context_tokens [--smoke]
"""

from __future__ import annotations

import os
import sys
from functools import cache
from pathlib import Path
from typing import Any

from bench._common import Row, table

NAME = "6 context tokens"
SIZES = (10, 50, 200)


@cache
def encoding() -> Any:
    # litellm ships tiktoken's vocabulary files: no download needed.
    import litellm

    bundled = Path(litellm.__file__).parent / "litellm_core_utils" / "tokenizers"
    os.environ.setdefault("TIKTOKEN_CACHE_DIR", str(bundled))
    import tiktoken

    return tiktoken.get_encoding("o200k_base")


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def message_tokens(messages: list[dict[str, Any]]) -> int:
    enc = encoding()
    return 3 + sum(3 + sum(len(enc.encode(s)) for s in _strings(m)) for m in messages)


def measure(n: int) -> tuple[int, int, int]:
    """(ours as shipped, ours with no budget, chat messages) for the recorded thread of n events."""
    from agent.context import render_context
    from bench.recorded import as_chat_messages, recorded_thread
    from bot.example_agent import agent

    events = recorded_thread(n)
    shipped = render_context(agent, events).messages
    budget, agent.context_token_budget = agent.context_token_budget, 10**9
    try:
        whole = render_context(agent, events).messages
    finally:
        agent.context_token_budget = budget
    chat = as_chat_messages(events, agent.system_prompt())
    return message_tokens(shipped), message_tokens(whole), message_tokens(chat)


def run(smoke: bool = False) -> list[Row]:
    rows = []
    for n in SIZES[:1] if smoke else SIZES:
        shipped, whole, chat = measure(n)
        rows.append(
            Row(
                NAME,
                f"{n} events",
                shipped,
                chat,
                "tokens",
                target=("<=", 0.6),
                baseline_name="chat messages",
                note=f"format alone (no budget): {whole} tokens, {whole / chat:.2f}x",
            )
        )
    return rows


if __name__ == "__main__":
    print(table(run(smoke="--smoke" in sys.argv)))
