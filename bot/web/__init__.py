"""The web inbox on `signoff serve`'s own HTTP server: sign in, see what waits on you, read threads,
decide and answer, and talk to the agent. Server-rendered (Jinja2, autoescaped), one small
stylesheet and one small script served from here, under a strict Content-Security-Policy.

    sessions.py   the signed session cookie        csrf.py      every form's token, checked on POST
    signin.py     sign-in links by mail, sign-out  pages.py     the inbox's pages and forms
    people.py     who may sign in, and decide      render.py    templates and what they show
    context.py    what every page shares           live.py      pages kept current (server-sent events)
    templates/, static/
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.runtime import Runtime
from bot.web.context import SECURITY_HEADERS, SignInNeeded, Web, to_signin
from bot.web.csrf import BadForm, CsrfRefused
from bot.web.pages import Pages
from bot.web.signin import SignIn

STATIC = Path(__file__).with_name("static")
# Paths that are not the inbox's: they keep their own headers.
_NOT_WEB = ("/api/", "/slack/", "/healthz", "/metrics", "/openapi.json", "/humanlayer/")

Endpoint = Callable[[Request], Awaitable[Response]]


def mount_web(app: Any, runtime: Runtime) -> Web:
    """Add the inbox's routes, its static files and its security headers to `app`."""
    web = Web.build(runtime)
    for path, endpoint, methods in [*SignIn(web).routes(), *Pages(web).routes()]:
        app.add_route(path, _guarded(web, endpoint), methods=methods, include_in_schema=False)
    app.mount("/static", StaticFiles(directory=STATIC), name="web-static")
    app.add_middleware(SecurityHeaders)
    return web


def _guarded(web: Web, endpoint: Endpoint) -> Endpoint:
    @functools.wraps(endpoint)
    async def run(request: Request) -> Response:
        try:
            return await endpoint(request)
        except SignInNeeded as needed:
            return to_signin(needed.path)
        except (CsrfRefused, BadForm) as exc:
            return web.refused(request, exc)

    return run


class SecurityHeaders:
    """The inbox's pages and files get the CSP and friends (bot/web/context.py)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(_NOT_WEB):
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                for name, value in SECURITY_HEADERS.items():
                    if name.lower().encode() not in present:
                        headers.append((name.lower().encode(), value.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)
