"""The async side's one way to the store (storage/async_store.py): a share of its threads (the
worker's) never holds more than its limit, so the rest (Slack acks, the API) always find a thread;
closing waits for the calls running and refuses later ones by name; the pool's size comes from
SIGNOFF_WORKERS plus a headroom, or SIGNOFF_STORAGE_THREADS."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.errors import ConfigError
from bot.settings import load_settings
from storage.async_store import AsyncStore
from storage.db import Database
from storage.errors import StoreClosed
from storage.store import Store


@pytest.fixture
def storage(tmp_path: Path) -> Iterator[AsyncStore]:
    db = Database(f"sqlite:///{tmp_path / 'signoff.db'}")
    storage = AsyncStore(Store(db), threads=4)
    yield storage
    storage.close()
    db.dispose()


class Gate:
    """Calls that hold their thread until opened, counting how many run at once."""

    def __init__(self) -> None:
        self.opened = threading.Event()
        self.two_running = threading.Event()
        self.lock = threading.Lock()
        self.running = 0
        self.most = 0

    def hold(self) -> str:
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
            if self.running >= 2:
                self.two_running.set()
        try:
            assert self.opened.wait(30)
            return threading.current_thread().name
        finally:
            with self.lock:
                self.running -= 1


async def test_a_share_holds_at_most_its_limit_and_the_rest_still_get_a_thread(storage: AsyncStore) -> None:
    gate = Gate()
    worker = storage.share(2)
    busy = [asyncio.create_task(worker.run(gate.hold)) for _ in range(5)]
    assert await asyncio.to_thread(gate.two_running.wait, 30)
    # The worker's share is all held: a call from outside it runs at once all the same.
    started = time.monotonic()
    name = await asyncio.wait_for(storage.run(threading.current_thread), timeout=10)
    assert time.monotonic() - started < 5
    assert name.name.startswith("signoff-storage_")
    gate.opened.set()
    names = await asyncio.gather(*busy)
    assert gate.most == 2
    assert all(n.startswith("signoff-storage_") for n in names)


async def test_close_waits_for_the_calls_running_and_refuses_later_ones(storage: AsyncStore) -> None:
    done: list[str] = []

    def slow() -> None:
        time.sleep(0.3)
        done.append("slow")

    running = asyncio.create_task(storage.run(slow))
    await asyncio.sleep(0.05)  # it has started on a storage thread
    await asyncio.to_thread(storage.close)
    assert done == ["slow"]  # close returned only once the running call was done
    await running
    assert not [t for t in threading.enumerate() if t.name.startswith("signoff-storage_")]
    with pytest.raises(StoreClosed, match=r"the store is closed .*list_threads was not run"):
        await storage.list_threads(limit=1)
    storage.close()  # twice is fine


def test_the_pool_is_the_workers_share_plus_a_headroom_unless_set() -> None:
    default = load_settings(workers=8)
    assert (default.storage_pool, default.worker_storage_share) == (16, 10)
    small = load_settings(workers=8, storage_threads=8)
    assert (small.storage_pool, small.worker_storage_share) == (8, 2)
    large = load_settings(workers=2, storage_threads=40)
    assert (large.storage_pool, large.worker_storage_share) == (40, 4)
    with pytest.raises(ConfigError, match="SIGNOFF_STORAGE_THREADS"):
        load_settings(storage_threads=4)
