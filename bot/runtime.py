"""Wire everything from the settings: database, agent, model, core, worker, dispatcher, channels.

A runtime plays one role (bot/processes.py): `all` in one process; or, under the supervisor
(bot/supervisor.py), `ingress` (the HTTP server, Slack, mail in: it records and acknowledges, and
wakes a worker process) or `worker` (the agent's steps, the thread builder, the outbox). The
roles share the database, and wake each other over bot/wake_bus.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

from agent.definition import Agent
from agent.io.model import LiteLLMClient, ModelClient, ModelConfig, UnconfiguredModel
from bot.agent_set import Agents, load_agents, mcp_tools_of
from bot.approvals_api import StandaloneService, setup_standalone
from bot.approver_check import named, require_approvers
from bot.clock import Clock, clock_from
from bot.core import SignoffCore
from bot.dispatcher import Dispatcher
from bot.grant_rules import grant_view
from bot.mcp_tools import McpTools
from bot.metrics import Metrics, TimedModel
from bot.place_check import configured_channels, require_places
from bot.settings import Settings
from bot.timer_service import TimerService
from bot.trigger_wiring import setup_triggers
from bot.wake_bus import WakeHandlers, WakeSender, owner_of, receive_wakes
from bot.worker import Worker
from channels.base import Channel
from storage import migrate
from storage.async_store import AsyncStore
from storage.db import Database
from storage.store import Store, status_counts

log = logging.getLogger(__name__)


def setup_channels(runtime: Runtime) -> None:
    """Add each configured channel; each is imported only when configured."""
    if runtime.settings.slack_enabled:
        from bot.slack_wiring import setup_slack

        setup_slack(runtime)
    if runtime.settings.email_enabled:
        from bot.email_wiring import setup_email

        setup_email(runtime)


async def _logged(service: Callable[[], Awaitable[None]]) -> None:
    try:
        await service()
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("service %s stopped", getattr(service, "__name__", service))
        raise


async def _cancel(tasks: list[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def _owned_here(
    group: ProcessGroup, local: Callable[[str], None], other: Callable[[str], None]
) -> Callable[[str], None]:
    """Wake a thread in this worker process if it is this one's (by its id's hash), else in its owner."""

    def wake(thread_id: str) -> None:
        if owner_of(thread_id, group.workers) == group.index:
            local(thread_id)
        else:
            other(thread_id)

    return wake


async def _warm(model: ModelClient) -> None:
    """Load the model library now, in the background, so that the first thread after a start does
    not wait for it (seconds); readiness never waits for this."""
    warm = getattr(model, "warm", None)
    if warm is None:
        return
    try:
        await warm()
    except Exception:
        log.warning("could not load the model library ahead of the first call", exc_info=True)


def model_client(settings: Settings) -> ModelClient:
    if not settings.model:
        return UnconfiguredModel()
    return LiteLLMClient(
        ModelConfig(
            model=settings.model,
            api_base=settings.model_api_base,
            api_key=settings.model_api_key.get_secret_value() if settings.model_api_key else None,
            timeout=settings.model_timeout,
            max_attempts=settings.model_max_attempts,
        )
    )


class Role(StrEnum):
    ALL = "all"
    INGRESS = "ingress"
    WORKER = "worker"


@dataclass(frozen=True)
class ProcessGroup:
    """Where this process sits among `signoff serve`'s: the wake sockets' directory, how many
    worker processes there are, and which one this is (workers only)."""

    wake_dir: Path
    workers: int
    index: int = 0


@dataclass
class Runtime:
    settings: Settings
    db: Database
    store: Store
    # The async side's one way to the store: one bounded pool of named threads, closed last.
    storage: AsyncStore
    agent: Agent
    model: ModelClient
    core: SignoffCore
    worker: Worker
    dispatcher: Dispatcher
    metrics: Metrics
    channels: dict[str, Channel] = field(default_factory=dict)
    # Long-running coroutines a channel needs (Socket Mode, the IMAP watcher), run while serving.
    services: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    # Functions that add a channel's HTTP routes to the app (the Slack endpoint).
    mounts: list[Callable[[Any], None]] = field(default_factory=list)
    # Requests made through /api/approvals and /api/questions: long polls, expiry (bot/approvals_api.py).
    standalone: StandaloneService | None = None
    # The requests' timers (remind, escalate, expire), fired in the processes that run the agent.
    timers: TimerService | None = None
    role: Role = Role.ALL
    group: ProcessGroup | None = None
    # Every agent of the deployment by name (`agent` is the default one).
    agents: Agents | None = None
    # The agents' MCP servers (bot/mcp_tools.py), connected where tools run (not in the ingress).
    mcp: McpTools | None = None
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @classmethod
    def build(
        cls,
        settings: Settings,
        *,
        upgrade_schema: bool = True,
        role: Role = Role.ALL,
        group: ProcessGroup | None = None,
        clock: Clock | None = None,
    ) -> Runtime:
        if role != Role.ALL and group is None:
            raise ValueError(f"a {role} process needs its process group")
        db = Database(settings.database_url)
        if upgrade_schema:
            migrate.prepare_for_serving(db)
        store = Store(db)
        storage = AsyncStore(store, threads=settings.storage_pool)
        agents = load_agents(settings, db)
        for each in agents.values():
            require_approvers(each, settings.approver_list, store.people_for(named(each, settings.approver_list)))
        require_places(agents.values(), configured_channels(settings))
        agent = agents.default
        metrics = Metrics()
        model: ModelClient = TimedModel(model_client(settings), metrics.model_call_seconds)
        metrics.track_status(lambda: status_counts(store))
        channels: dict[str, Channel] = {}
        # A claimed message whose sender died is sent again after this (the channel finds an earlier send).
        claim = timedelta(seconds=2 * settings.lease_seconds)
        dispatcher = Dispatcher(
            storage,
            channels,
            poll_interval=settings.poll_interval,
            metrics=metrics,
            claim=claim,
            view=lambda request, thread_agent: grant_view(agents, request, thread_agent),
            speakers=agents.several,
        )
        worker = Worker(
            storage.share(settings.worker_storage_share),
            agent,
            model,
            concurrency=settings.workers,
            poll_interval=settings.poll_interval,
            lease_seconds=settings.lease_seconds,
            tool_threads=settings.tool_threads,
            metrics=metrics,
            on_outbox=dispatcher.wake,
            agents=agents,
        )
        core = SignoffCore(
            storage,
            agent,
            default_approvers=settings.approver_list,
            wake_thread=worker.wake,
            wake_outbox=dispatcher.wake,
            poll_interval=settings.poll_interval,
            forward_to_webhook=settings.agent_is_webhook,
            agent_address=settings.email_address or "",
            agents=agents,
        )
        if group is not None:
            sender = WakeSender(group.wake_dir, group.workers)
            if role == Role.INGRESS:
                core.wake_thread, core.wake_outbox, core.wake_intake = sender.thread, sender.outbox, sender.intake
            else:
                core.wake_thread = _owned_here(group, worker.wake, sender.thread)
        runtime = cls(settings, db, store, storage, agent, model, core, worker, dispatcher, metrics, channels)
        runtime.role, runtime.group, runtime.agents = role, group, agents
        setup_channels(runtime)
        setup_triggers(runtime)
        runtime.mcp = mcp_tools_of(agents)
        runtime.standalone = setup_standalone(runtime)
        runtime.timers = TimerService(
            storage,
            clock or clock_from(settings.test_clock_file),
            poll_interval=settings.poll_interval,
            wake_thread=lambda thread_id: core.wake_thread(thread_id),
            wake_outbox=dispatcher.wake,
            on_closed=lambda request_id: core.on_decided(request_id),
        )
        return runtime

    def add_channel(self, name: str, channel: Channel) -> None:
        self.channels[name] = channel

    async def start(self) -> None:
        if not self.settings.model and self.role != Role.INGRESS and not self.settings.agent_is_webhook:
            log.warning(UnconfiguredModel.MESSAGE)
        tasks: list[asyncio.Task[None]] = []
        if self.role != Role.INGRESS:
            tasks.append(asyncio.create_task(_warm(self.model), name="warm-model"))
            if self.mcp is not None:
                await self.mcp.start()  # before the first step, so the model sees the MCP tools
            tasks += [
                asyncio.create_task(self.worker.run(), name="worker"),
                asyncio.create_task(self.dispatcher.run(), name="dispatcher"),
                asyncio.create_task(self.core.builder.run(), name="thread-builder"),
            ]
            if self.timers is not None:
                tasks.append(asyncio.create_task(_logged(self.timers.run), name="timers"))
        if self.role == Role.WORKER:
            assert self.group is not None
            handlers = WakeHandlers(self.worker.wake, self.core.builder.wake, self.dispatcher.wake)
            tasks.append(
                asyncio.create_task(receive_wakes(self.group.wake_dir, self.group.index, handlers), name="wakes")
            )
        if self.role != Role.WORKER:
            tasks += [
                asyncio.create_task(_logged(service), name=getattr(service, "__name__", "service"))
                for service in self.services
            ]
        self._tasks = tasks

    async def stop(self) -> None:
        """Stop taking work first (the worker's polling, new threads, the channels' listeners),
        then let the steps in flight finish within the grace while the outbox keeps sending, then
        stop the rest, and last the storage threads everything above used (their calls still
        running finish first) and the database's connections. Nothing here may log an error:
        whatever is cut short resumes at the next start."""
        self.worker.stop_taking_work()
        if self.role == Role.INGRESS:
            await _cancel(self._tasks)
            await asyncio.to_thread(self.storage.close)
            self.db.dispose()
            log.info("stopped")
            return
        named = {task.get_name(): task for task in self._tasks}
        intake = [task for name, task in named.items() if name not in ("worker", "dispatcher")]
        await _cancel(intake)
        await self.worker.stop(self.settings.shutdown_grace)
        await _cancel(self._tasks)
        if self.mcp is not None:
            await self.mcp.close()
        await asyncio.to_thread(self.storage.close)
        self.db.dispose()
        log.info("stopped")

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Runtime]:
        await self.start()
        try:
            yield self
        finally:
            await self.stop()
