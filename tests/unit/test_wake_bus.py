"""The wake-ups between serve's processes: each thread has one owner among the worker processes,
the same in every process and after restarts; a wake reaches its owner's socket and only its
owner's; sending to a worker that is not listening never blocks or raises."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

from bot.wake_bus import WakeHandlers, WakeSender, owner_of, receive_wakes


def test_each_thread_has_one_stable_owner_and_the_work_spreads() -> None:
    ids = [uuid.uuid4().hex for _ in range(4000)]
    owners = [owner_of(i, 4) for i in ids]
    assert owners == [owner_of(i, 4) for i in ids]
    for worker in range(4):
        assert 800 < owners.count(worker) < 1200


def test_a_wake_for_nobody_listening_is_dropped_quietly(tmp_path: Path) -> None:
    sender = WakeSender(tmp_path, 3)
    sender.thread("t1")
    sender.intake()
    sender.outbox()
    sender.close()


async def test_wakes_reach_the_owning_worker_only(tmp_path: Path) -> None:
    seen: dict[int, list[str]] = {0: [], 1: []}
    arrived = asyncio.Event()

    def handlers(index: int) -> WakeHandlers:
        def note(what: str) -> None:
            seen[index].append(what)
            arrived.set()

        return WakeHandlers(
            thread=lambda thread_id: note(f"thread {thread_id}"),
            intake=lambda: note("intake"),
            outbox=lambda: note("outbox"),
        )

    listeners = [asyncio.create_task(receive_wakes(tmp_path, i, handlers(i))) for i in range(2)]
    try:
        async with asyncio.timeout(5):
            while not all((tmp_path / f"worker-{i}.sock").exists() for i in range(2)):  # noqa: ASYNC110
                await asyncio.sleep(0.01)
        sender = WakeSender(tmp_path, 2)
        # A burst far beyond the few datagrams the kernel queues per socket: none is lost.
        ids = [uuid.uuid4().hex for _ in range(5000)]
        for thread_id in ids:
            sender.thread(thread_id)
        sender.intake()
        sender.outbox()
        async with asyncio.timeout(5):
            while sum(len(v) for v in seen.values()) < len(ids) + 2:
                arrived.clear()
                await arrived.wait()
        assert sorted(seen[0] + seen[1]) == sorted([f"thread {i}" for i in ids] + ["intake", "outbox"])
        for thread_id in ids:
            assert f"thread {thread_id}" in seen[owner_of(thread_id, 2)]
        sender.close()
    finally:
        for task in listeners:
            task.cancel()
        await asyncio.gather(*listeners, return_exceptions=True)
    assert not [p for p in tmp_path.iterdir() if p.suffix == ".sock"]  # noqa: ASYNC240 (each listener took its socket away)
