"""The web inbox's session cookie: signed, HttpOnly, SameSite=Lax, Secure behind TLS.

The cookie holds two values, signed with SIGNOFF_SECRET_KEY (itsdangerous, with its own salt):
`sid`, the sign-in row of a signed-in person (storage/web_signins.py; sign-out ends it there, so a
copied cookie dies with it), and `csrf`, the token every form must carry back (bot/web/csrf.py).
A visitor who is not signed in gets a cookie with `csrf` alone, for the sign-in forms.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import Response

log = logging.getLogger(__name__)

COOKIE = "signoff_session"
SALT = "signoff-web-session"


@dataclass(frozen=True)
class Session:
    csrf: str
    sid: str | None = None


class SessionCookies:
    def __init__(self, secret: str | None, *, lifetime: timedelta, always_secure: bool) -> None:
        if secret is None:
            log.warning(
                "SIGNOFF_SECRET_KEY is not set: web inbox sessions are signed with a key made at start, "
                "so every restart signs everyone out (and replicas do not share sessions)"
            )
            secret = secrets.token_urlsafe(32)
        self.serializer = URLSafeTimedSerializer(secret, salt=SALT)
        self.lifetime = lifetime
        self.always_secure = always_secure

    def read(self, request: Request) -> Session | None:
        raw = request.cookies.get(COOKIE)
        if not raw or len(raw) > 4096:
            return None
        try:
            data = self.serializer.loads(raw, max_age=int(self.lifetime.total_seconds()))
        except BadSignature:
            return None
        if not isinstance(data, dict) or not isinstance(data.get("csrf"), str) or len(data["csrf"]) < 32:
            return None
        sid = data.get("sid")
        return Session(csrf=data["csrf"], sid=sid if isinstance(sid, str) else None)

    @staticmethod
    def anonymous() -> Session:
        return Session(csrf=secrets.token_urlsafe(32))

    def write(self, response: Response, request: Request, session: Session) -> None:
        value = self.serializer.dumps({"csrf": session.csrf, **({"sid": session.sid} if session.sid else {})})
        response.set_cookie(
            COOKIE,
            value,
            max_age=int(self.lifetime.total_seconds()),
            path="/",
            httponly=True,
            samesite="lax",
            secure=self.secure(request),
        )

    def clear(self, response: Response, request: Request) -> None:
        response.delete_cookie(COOKIE, path="/", httponly=True, samesite="lax", secure=self.secure(request))

    def secure(self, request: Request) -> bool:
        """Behind TLS: SIGNOFF_WEB_URL is https, or the request came over https (directly, or as a
        proxy in SIGNOFF_TRUSTED_PROXIES says with X-Forwarded-Proto; uvicorn sets the scheme)."""
        return self.always_secure or request.url.scheme == "https"
