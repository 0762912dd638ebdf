"""The store as the event loop reaches it: the one bridge from async code to the sync store.

Every storage call the async side makes (the worker, the outbox dispatcher, the thread builder, the
core behind the channels, the HTTP API) runs here, on one bounded pool of named threads
(`signoff-storage_0`, ...), never on the loop's default executor: litellm runs part of every model
call there, and a step's write must not queue behind another step's model call.

    storage = AsyncStore(Store(db), threads=16)
    row = await storage.append(thread_id, events, lease_owner=owner)   # Store's methods, awaited
    built = await storage.run(storage.intake.build, "ops", limit=32)  # anything else, one call

The worker takes its storage calls from a `share` of the pool, at most as many threads at a time as
it was given, so a busy agent never holds every thread and a Slack ack, an API call or an outbox
send always finds one. `close()` comes last in a stop, once nothing uses the store: it waits for the
calls still running, and a call after it raises `StoreClosed`.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import functools
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar, overload

from storage.errors import StoreClosed
from storage.intake import IntakeQueue
from storage.store import Store

P = ParamSpec("P")
T = TypeVar("T")

THREAD_NAME = "signoff-storage"


class _Mirror(Generic[P, T]):
    """`Store.<method>` on an AsyncStore: the same arguments, awaited, run on the storage threads."""

    def __init__(self, method: Callable[Concatenate[Store, P], T]) -> None:
        self.method = method

    def __set_name__(self, _owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, instance: None, owner: type) -> _Mirror[P, T]: ...
    @overload
    def __get__(self, instance: AsyncStore, owner: type) -> Callable[P, Awaitable[T]]: ...
    def __get__(self, instance: AsyncStore | None, owner: type) -> _Mirror[P, T] | Callable[P, Awaitable[T]]:
        if instance is None:
            return self
        store, method = instance.store, self.method

        async def call(*args: P.args, **kwargs: P.kwargs) -> T:
            return await instance.run(method, store, *args, **kwargs)

        call.__name__ = self.name
        return call


class AsyncStore:
    def __init__(self, store: Store, *, threads: int = 8) -> None:
        if threads < 1:
            raise ValueError("an AsyncStore needs at least one thread")
        self.store = store
        self.intake = IntakeQueue(store.db)
        self.threads = threads
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix=THREAD_NAME)
        self._limit: asyncio.Semaphore | None = None
        self._owner = True

    def share(self, limit: int) -> AsyncStore:
        """The same store and threads, holding at most `limit` of them at a time (closing it closes nothing)."""
        if limit < 1:
            raise ValueError("a share of the storage threads needs at least one")
        shared = copy.copy(self)
        shared._limit = asyncio.Semaphore(limit)
        shared._owner = False
        return shared

    async def run(self, call: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """`call(*args, **kwargs)` on a storage thread (one transaction, or a few that belong together)."""
        async with self._limit or contextlib.nullcontext():
            loop = asyncio.get_running_loop()
            try:
                future = loop.run_in_executor(self._pool, functools.partial(call, *args, **kwargs))
            except RuntimeError as exc:  # the pool was shut down: only a call made after close()
                raise StoreClosed(f"the store is closed (signoff is stopping); {_name(call)} was not run") from exc
            return await future

    def close(self) -> None:
        """Wait for the calls still running, drop the ones not started, end the threads (idempotent)."""
        if self._owner:
            self._pool.shutdown(wait=True, cancel_futures=True)

    # Store's methods the async side calls, one line each (typed from Store's own signatures).
    create_thread = _Mirror(Store.create_thread)
    append = _Mirror(Store.append)
    get_thread = _Mirror(Store.get_thread)
    thread_by_origin = _Mirror(Store.thread_by_origin)
    thread_statuses = _Mirror(Store.thread_statuses)
    thread_versions = _Mirror(Store.thread_versions)
    waiting_version = _Mirror(Store.waiting_version)
    reminders_sent = _Mirror(Store.reminders_sent)
    snapshot = _Mirror(Store.snapshot)
    events_since = _Mirror(Store.events_since)
    stored_events = _Mirror(Store.stored_events)
    list_threads = _Mirror(Store.list_threads)
    status_counts = _Mirror(Store.status_counts)
    get_request = _Mirror(Store.get_request)
    request_and_people = _Mirror(Store.request_and_people)
    list_requests = _Mirror(Store.list_requests)
    resolve = _Mirror(Store.resolve)
    record_receipt = _Mirror(Store.record_receipt)
    has_receipt = _Mirror(Store.has_receipt)
    receipt_thread = _Mirror(Store.receipt_thread)
    receipt_threads = _Mirror(Store.receipt_threads)
    runnable_threads = _Mirror(Store.runnable_threads)
    claim_snapshot = _Mirror(Store.claim_snapshot)
    renew = _Mirror(Store.renew)
    release = _Mirror(Store.release)
    release_dead_local_leases = _Mirror(Store.release_dead_local_leases)
    due_outbox = _Mirror(Store.due_outbox)
    claim_outbox = _Mirror(Store.claim_outbox)
    outbox_sent = _Mirror(Store.outbox_sent)
    outbox_failed = _Mirror(Store.outbox_failed)
    outbox_for_thread = _Mirror(Store.outbox_for_thread)
    slack_post_threads = _Mirror(Store.slack_post_threads)
    mailbox_state = _Mirror(Store.mailbox_state)
    save_mailbox_state = _Mirror(Store.save_mailbox_state)
    people_for = _Mirror(Store.people_for)
    person_for = _Mirror(Store.person_for)
    check_token = _Mirror(Store.check_token)
    # The web inbox (bot/web/).
    search_requests = _Mirror(Store.search_requests)
    search_threads = _Mirror(Store.search_threads)
    distinct_values = _Mirror(Store.distinct_values)
    signin_asked = _Mirror(Store.signin_asked)
    signin_link_address = _Mirror(Store.signin_link_address)
    signin_use_link = _Mirror(Store.signin_use_link)
    signin_start = _Mirror(Store.signin_start)
    signin_session = _Mirror(Store.signin_session)
    signin_end = _Mirror(Store.signin_end)
    create_standalone = _Mirror(Store.create_standalone)
    get_standalone = _Mirror(Store.get_standalone)
    standalone_by_key = _Mirror(Store.standalone_by_key)
    escalate_standalone = _Mirror(Store.escalate_standalone)
    decided_among = _Mirror(Store.decided_among)
    fire_due_timers = _Mirror(Store.fire_due_timers)
    timers_for = _Mirror(Store.timers_for)
    append_granted = _Mirror(Store.append_granted)
    get_grant = _Mirror(Store.get_grant)
    list_grants = _Mirror(Store.list_grants)
    revoke_grant = _Mirror(Store.revoke_grant)


def _name(call: Callable[..., Any]) -> str:
    return getattr(call, "__qualname__", None) or repr(call)
