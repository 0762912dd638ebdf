"""Close the connection after an answer given before the request's body was read to its end.

uvicorn keeps a connection open after a response and receives, then discards, whatever is left of
the request's body. For a 401 or 413 given to a 100 MB upload that is 100 MB more to take in for
nothing. `Connection: close` on such an answer makes uvicorn close the socket right after it.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CLOSE = (b"connection", b"close")


def has_body(scope: Scope) -> bool:
    headers = Headers(scope=scope)
    return "transfer-encoding" in headers or headers.get("content-length", "0").strip("0 ") != ""


class CloseUnreadBodies:
    """ASGI middleware; wrap the whole app (outside any body limit, whose 413 it must also see)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not has_body(scope):
            await self.app(scope, receive, send)
            return
        read_to_the_end = False

        async def tracked_receive() -> Message:
            nonlocal read_to_the_end
            message = await receive()
            if message["type"] == "http.request" and not message.get("more_body", False):
                read_to_the_end = True
            return message

        async def closing_send(message: Message) -> None:
            if message["type"] == "http.response.start" and not read_to_the_end:
                headers = [h for h in message.get("headers", []) if h[0].lower() != b"connection"]
                message = {**message, "headers": [*headers, CLOSE]}
            await send(message)

        await self.app(scope, tracked_receive, closing_send)
