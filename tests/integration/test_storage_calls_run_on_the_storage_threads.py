"""Every database statement the running bot makes (the worker, the thread builder, the outbox
dispatcher, the API, /healthz and /metrics) runs on one bounded pool of named storage threads,
never on the event loop's default executor (where litellm runs its work); a stop ends those threads
last, once their calls are done, and a call after it is refused as `StoreClosed`."""

from __future__ import annotations

import asyncio
import logging
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import event

from bot.http_api import create_app
from bot.runtime import Runtime
from bot.settings import load_settings
from storage.errors import StoreClosed
from tests.support.fake_model import FakeModelServer

TOKEN = "storage-threads-token"
THREADS = 8
LAUNCHES = 6


async def wait_for(check: Any, timeout: float = 60.0) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        if value := await check():
            return value
        await asyncio.sleep(0.05)
    raise AssertionError("timed out")


async def test_storage_calls_run_on_the_storage_threads_and_end_with_the_stop(
    model: FakeModelServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = load_settings(
        database_url=f"sqlite:///{tmp_path / 'signoff.db'}",
        model="openai/fake",
        model_api_base=model.url,
        model_api_key="x",
        api_token=TOKEN,
        approvers="alice@example.com",
        workers=2,
        storage_threads=THREADS,
        poll_interval=0.05,
    )
    runtime = Runtime.build(settings)
    seen: set[str] = set()

    def statement(*_: Any) -> None:
        seen.add(threading.current_thread().name)

    event.listen(runtime.db.engine, "before_cursor_execute", statement)
    app = create_app(runtime)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    caplog.set_level(logging.WARNING)
    async with (
        runtime.running(),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://signoff", headers=headers) as api,
    ):
        launched = [
            (await api.post("/api/threads", json={"message": f"hello {i}", "by": "bob@example.com"})).json()["id"]
            for i in range(LAUNCHES)
        ]

        async def all_done() -> bool:
            threads = [(await api.get(f"/api/threads/{thread_id}")).json() for thread_id in launched]
            return all(t["status"] == "done" for t in threads)

        await wait_for(all_done)
        assert (await api.get("/api/requests")).status_code == 200
        assert (await api.get("/healthz")).status_code == 200
        assert "signoff_threads" in (await api.get("/metrics")).text
        await asyncio.sleep(0.2)  # a few polls of the worker and the outbox dispatcher
    assert seen, "no statement was seen"
    assert all(name.startswith("signoff-storage_") for name in seen), sorted(seen)
    assert len(seen) <= THREADS
    # The stop closed the pool last: its threads are gone, and nothing is accepted after it.
    assert not [t.name for t in threading.enumerate() if t.name.startswith("signoff-storage_")]
    with pytest.raises(StoreClosed, match="the store is closed"):
        await runtime.storage.list_threads(limit=1)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
