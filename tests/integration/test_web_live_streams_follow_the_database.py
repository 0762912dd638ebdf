"""The web inbox's live streams (bot/web/live.py) on SQLite and PostgreSQL: a stream sends the
version of what its page shows at once and again when the database changes (written by anyone, as
a worker process would), keeps quiet streams alive with comments, ends when the server stops, and
forgets a page once it leaves."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from agent.events import AgentReply, HumanMessage
from bot.web.live import WAITING, LiveHub, thread_key
from storage.async_store import AsyncStore
from storage.store import Store


async def _next_version(stream: AsyncIterator[str]) -> str:
    async with asyncio.timeout(10):
        async for chunk in stream:
            if chunk.startswith("event: version"):
                return chunk
    raise AssertionError("the stream ended")


def test_a_stream_follows_its_thread_and_ends_when_the_server_stops(store: Store) -> None:
    thread = store.create_thread(agent="ops", first=HumanMessage(text="hi", by="bob"), requested_by="bob")
    assert thread is not None

    async def scenario() -> None:
        storage = AsyncStore(store, threads=2)
        hub = LiveHub(storage, interval=0.05, keepalive=0.2)
        stream = hub.stream(thread_key(thread.id))
        assert await anext(stream) == "retry: 2000\n\n"
        assert await _next_version(stream) == f'event: version\ndata: "running:{thread.last_seq}"\n\n'
        assert await anext(stream) == ": still here\n\n"  # nothing changed: a comment keeps it open

        await storage.append(thread.id, [AgentReply(text="hello", final=True)])
        assert await _next_version(stream) == f'event: version\ndata: "done:{thread.last_seq + 1}"\n\n'
        waiting = hub.stream(WAITING)
        assert await anext(waiting) == "retry: 2000\n\n"
        assert (await _next_version(waiting)).startswith('event: version\ndata: "0:')
        assert hub.streams == 2

        hub.close()  # the server stops: both streams end within a tick
        async with asyncio.timeout(5):
            assert [chunk async for chunk in stream] == [] and [chunk async for chunk in waiting] == []
        assert hub.streams == 0 and hub._versions == {}
        storage.close()

    asyncio.run(scenario())
