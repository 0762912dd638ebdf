"""Model calls through litellm, with our own retries.

litellm is imported on the first call, not at start-up: it takes seconds and hundreds of MB to
import, and a bot that is only waiting for humans should not pay for it. The import runs in a
worker thread, never on the event loop, so the server keeps answering (Slack's acks among them)
while it loads.
"""

from __future__ import annotations

import asyncio
import logging
import os
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from agent.errors import ModelCallFailed
from agent.io.daemon_thread import on_daemon_thread
from agent.reducer import ModelOutput, ModelToolCall
from retry_backoff import Backoff

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]


class ModelClient(Protocol):
    async def complete(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> ModelOutput: ...


@dataclass(frozen=True)
class ModelConfig:
    model: str
    api_base: str | None = None
    api_key: str | None = None
    timeout: float = 60.0
    max_attempts: int = 4
    backoff_base: float = 0.5  # the first retry waits 0.25-0.5 s, each next one up to twice as long
    backoff_max: float = 20.0  # ... and none longer than this


_litellm: Any = None


def _import_litellm() -> Any:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    # litellm logs every call at INFO, twice (its own handler and the root's): a cost per call
    # and noise in the bot's log. Its warnings and errors still show.
    logging.getLogger("LiteLLM").setLevel(logging.WARNING)
    return litellm


# One import per event loop at a time: concurrent first calls wait for it instead of each holding
# a worker thread (the pool is small, and the HTTP API needs it meanwhile).
_loading: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Task[Any]] = weakref.WeakKeyDictionary()


async def load_litellm() -> Any:
    """litellm, imported once, off the event loop."""
    global _litellm
    if _litellm is None:
        loop = asyncio.get_running_loop()
        task = _loading.get(loop)
        if task is None:
            task = _loading[loop] = loop.create_task(on_daemon_thread(_import_litellm, name="signoff-import"))
        _litellm = await asyncio.shield(task)
    return _litellm


def price_unknown_model(litellm: Any, model: str) -> None:
    """Give litellm a price (zero per token) for a model missing from its cost map.

    litellm prices every answer. For a model it has no price for (a self-hosted one, say), each
    call searched its cost map again, seven times, through every fallback name, only to find
    nothing (litellm caches hits, not misses): an eighth of litellm's work per call. Told the
    price once, it finds it. A model litellm knows keeps litellm's price; Signoff never reads it.
    """
    try:
        litellm.get_model_info(model=model)
        return
    except Exception:  # litellm raises a bare Exception for a model it has no entry for
        pass
    try:
        _, provider, _, _ = litellm.get_llm_provider(model=model)
    except Exception:  # an unknown provider fails the call itself, with a clearer message
        return
    zero = {
        "input_cost_per_token": 0.0,
        "output_cost_per_token": 0.0,
        "cache_creation_input_token_cost": 0.0,
        "cache_read_input_token_cost": 0.0,
    }
    litellm.register_model({model: {"litellm_provider": provider, "mode": "chat", **zero}})
    log.info("model %s has no price in litellm's cost map; its calls are counted at zero cost", model)


class LiteLLMClient:
    """One model, reached through litellm's async API with tool calling."""

    def __init__(self, config: ModelConfig, *, sleep: Sleep = asyncio.sleep) -> None:
        self.config = config
        self._sleep = sleep
        self._backoff = Backoff(config.backoff_base, config.backoff_max)
        self.calls = 0
        self._priced = False

    async def warm(self) -> None:
        """Import litellm and price the model now, off the event loop, so that the first thread
        after a start does not wait for it."""
        litellm = await load_litellm()
        if not self._priced:
            await asyncio.to_thread(price_unknown_model, litellm, self.config.model)
            self._priced = True

    async def complete(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> ModelOutput:
        await self.warm()
        litellm = await load_litellm()
        attempt = 0
        while True:
            attempt += 1
            self.calls += 1
            try:
                response = await litellm.acompletion(
                    model=self.config.model,
                    messages=messages,
                    tools=tools or None,
                    tool_choice="auto" if tools else None,
                    api_base=self.config.api_base,
                    api_key=self.config.api_key,
                    timeout=self.config.timeout,
                    num_retries=0,
                )
            except Exception as exc:  # litellm maps every provider failure onto its own exceptions
                retryable = _is_retryable(litellm, exc)
                message = _describe(exc)
                if not retryable:
                    log.error("model call failed, not retryable: %s", message)
                    raise ModelCallFailed(explain_fatal(litellm, exc), retryable=False) from exc
                if attempt >= self.config.max_attempts:
                    log.warning("model call failed after %d attempt(s): %s", attempt, message)
                    raise ModelCallFailed(message, retryable=True) from exc
                delay = self._backoff.delay(attempt)
                log.info("model call failed (%s); retrying in %.2fs", message, delay)
                await self._sleep(delay)
                continue
            return _to_output(response)


class UnconfiguredModel:
    """Stands in when no model is set, so the bot still starts and says how to fix it."""

    MESSAGE = (
        "no model is configured: set SIGNOFF_MODEL to a litellm model string "
        "(e.g. openai/gpt-4o-mini) and SIGNOFF_MODEL_API_KEY, then restart"
    )

    async def complete(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> ModelOutput:
        raise ModelCallFailed(self.MESSAGE, retryable=False)


def _is_retryable(litellm: Any, exc: Exception) -> bool:
    retryable_types = tuple(
        getattr(litellm, name)
        for name in (
            "RateLimitError",
            "Timeout",
            "APIConnectionError",
            "InternalServerError",
            "ServiceUnavailableError",
        )
        if hasattr(litellm, name)
    )
    if isinstance(exc, retryable_types):
        return True
    status = getattr(exc, "status_code", None)
    return isinstance(status, int) and (status == 429 or status >= 500)


# What an operator must do about a failure no retry can fix, most specific first: (litellm class
# name, HTTP status, what happened, what to fix). The thread's humans read it too.
_FATAL_CAUSES: tuple[tuple[str, int | None, str, str], ...] = (
    (
        "ContextWindowExceededError",
        None,
        "the thread no longer fits in the model's context window",
        "lower the agent's context_token_budget, or set SIGNOFF_MODEL to a model with a larger window",
    ),
    (
        "ContentPolicyViolationError",
        None,
        "the model's provider refused the request under its content policy",
        "rephrase the request",
    ),
    ("AuthenticationError", 401, "the model rejected the API key", "check SIGNOFF_MODEL_API_KEY"),
    (
        "PermissionDeniedError",
        403,
        "the model refused access",
        "check that SIGNOFF_MODEL_API_KEY may use SIGNOFF_MODEL",
    ),
    (
        "NotFoundError",
        404,
        "the model or its endpoint was not found",
        "check SIGNOFF_MODEL and SIGNOFF_MODEL_API_BASE",
    ),
    (
        "BadRequestError",
        400,
        "the model rejected the request",
        "check that SIGNOFF_MODEL supports tool calling, and SIGNOFF_MODEL_API_BASE",
    ),
)


# Separates what an operator must do from the provider's own words, which may name internal hosts
# or echo part of a key: the thread's humans are told only the first part.
PROVIDER_SAID = " Provider said: "


def explain_fatal(litellm: Any, exc: Exception) -> str:
    """A failure no retry can fix, for the operator and the thread's humans: what happened, what to
    fix, then the provider's own words (shortened)."""
    status = getattr(exc, "status_code", None)
    what, fix = "the model call failed", "check SIGNOFF_MODEL, SIGNOFF_MODEL_API_KEY and SIGNOFF_MODEL_API_BASE"
    for class_name, cause_status, cause, cause_fix in _FATAL_CAUSES:
        cls = getattr(litellm, class_name, None)
        if (isinstance(cls, type) and isinstance(exc, cls)) or (cause_status is not None and status == cause_status):
            what, fix = cause, cause_fix
            break
    return f"{what}{f' (HTTP {status})' if status else ''}: {fix}.{PROVIDER_SAID}{_describe(exc)}"


def _describe(exc: Exception) -> str:
    status = getattr(exc, "status_code", None)
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    prefix = f"{type(exc).__name__}" + (f" (HTTP {status})" if status else "")
    return f"{prefix}: {text[:240]}"


def _to_output(response: Any) -> ModelOutput:
    try:
        message = response.choices[0].message
    except (AttributeError, IndexError) as exc:
        log.error("model call failed, not retryable: the answer had no message")
        raise ModelCallFailed(
            "the model sent an empty answer (no message): check that SIGNOFF_MODEL_API_BASE serves "
            "OpenAI-compatible chat completions for SIGNOFF_MODEL",
            retryable=False,
        ) from exc
    calls = tuple(
        ModelToolCall(
            name=str(call.function.name or ""),
            arguments_json=str(call.function.arguments or ""),
            id=str(call.id or ""),
        )
        for call in (getattr(message, "tool_calls", None) or [])
    )
    content = getattr(message, "content", None)
    return ModelOutput(text=content if isinstance(content, str) else None, tool_calls=calls)
