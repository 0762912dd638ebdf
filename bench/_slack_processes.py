"""Slack's side of the ack benchmark, each in a process of its own.

`python -m bench._slack_processes fake-slack` runs the fake Slack Web API (tests/support/fake_slack.py)
and prints its URL and bot token. `python -m bench._slack_processes bare-bolt PORT API_URL` runs the
baseline: a bare slack-bolt app (AsyncApp, Bolt's Starlette adapter, uvicorn: the stack Signoff's
/slack/events uses) whose app_mention listener does nothing, so its answer is Bolt's ack alone.
Both serve until stdin closes.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from bench._common import REPO

SECRET = "bench-signing-secret"


def bare_bolt(port: int, api_url: str, bot_token: str) -> None:
    import uvicorn
    from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
    from slack_bolt.async_app import AsyncApp
    from slack_sdk.web.async_client import AsyncWebClient
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    app = AsyncApp(
        client=AsyncWebClient(token=bot_token, base_url=api_url),
        signing_secret=SECRET,
        process_before_response=True,
    )

    @app.event("app_mention")
    async def on_mention() -> None:
        return None

    handler = AsyncSlackRequestHandler(app)

    async def events(request: Request) -> Response:
        return await handler.handle(request)

    async def healthz(_request: Request) -> Response:
        return Response("ok")

    web = Starlette(routes=[Route("/slack/events", events, methods=["POST"]), Route("/healthz", healthz)])
    server = uvicorn.Server(uvicorn.Config(web, host="127.0.0.1", port=port, log_level="warning", access_log=False))
    threading.Thread(target=lambda: (sys.stdin.read(), setattr(server, "should_exit", True)), daemon=True).start()
    server.run()


def main() -> None:
    if sys.argv[1] == "fake-slack":
        from tests.support.fake_slack import FakeSlack

        with FakeSlack() as fake:
            print(json.dumps({"api_url": fake.api_url, "bot_token": fake.bot_token}), flush=True)
            sys.stdin.read()
    elif sys.argv[1] == "bare-bolt":
        bare_bolt(int(sys.argv[2]), sys.argv[3], sys.argv[4])
    else:
        raise SystemExit(f"unknown process {sys.argv[1]!r}")


@contextmanager
def process(*args: str, reads_line: bool = True) -> Iterator[dict[str, Any]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench._slack_processes", *args],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE if reads_line else subprocess.DEVNULL,
    )
    try:
        info: dict[str, Any] = {"pid": proc.pid}
        if reads_line:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            if not line:
                raise RuntimeError(f"{args[0]} did not start")
            info.update(json.loads(line))
        yield info
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


if __name__ == "__main__":
    main()
