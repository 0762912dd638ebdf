"""A program's callback endpoint on loopback: records every POST Signoff makes to it.

    with CallbackReceiver() as hook:
        ... callback_url=hook.url ...
        [post] = hook.wait_for(1)
        assert verify(secret, post.body, post.headers["X-Signoff-Signature"])

`answers` scripts the HTTP status of each POST in turn (then 200); `redirect_to` answers 302 with
that Location instead.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.support.signoff_process import wait_until


@dataclass(frozen=True)
class Posted:
    path: str
    headers: dict[str, str]
    body: bytes


class CallbackReceiver:
    def __init__(self, answers: list[int] | None = None, redirect_to: str | None = None) -> None:
        self.posts: list[Posted] = []
        self.answers = list(answers or [])
        self.redirect_to = redirect_to
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                receiver.posts.append(Posted(self.path, {k: v for k, v in self.headers.items()}, body))
                status = receiver.answers.pop(0) if receiver.answers else 200
                if receiver.redirect_to:
                    self.send_response(302)
                    self.send_header("Location", receiver.redirect_to)
                else:
                    self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *_args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def wait_for(self, count: int, timeout: float = 30) -> list[Posted]:
        return list(
            wait_until(
                lambda: len(self.posts) >= count and list(self.posts), timeout=timeout, message=f"{count} callback(s)"
            )
        )

    def __enter__(self) -> CallbackReceiver:
        self.thread.start()
        return self

    def __exit__(self, *_exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()
