"""What every page of the web inbox shares: the session, the signed-in person, rendering, security headers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from bot.runtime import Runtime
from bot.web.csrf import BadForm, CsrfRefused, read_form
from bot.web.live import LiveHub
from bot.web.people import Viewer
from bot.web.render import environment
from bot.web.sessions import Session, SessionCookies
from storage.people import names_of

# No script or style from anywhere but here, none inline; no frames; forms post only here.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


class SignInNeeded(Exception):
    def __init__(self, path: str) -> None:
        self.path = path


@dataclass
class Web:
    runtime: Runtime
    cookies: SessionCookies

    def __post_init__(self) -> None:
        self.env = environment()
        self.live = LiveHub(self.runtime.storage)
        web_url = self.runtime.settings.web_url
        parts = urlsplit(web_url) if web_url else None
        self.public_origin = f"{parts.scheme}://{parts.netloc}" if parts else None

    @classmethod
    def build(cls, runtime: Runtime) -> Web:
        settings = runtime.settings
        secret = settings.secret_key.get_secret_value() if settings.secret_key else None
        cookies = SessionCookies(
            secret,
            lifetime=timedelta(hours=settings.web_session_hours),
            always_secure=bool(settings.web_url and settings.web_url.startswith("https://")),
        )
        return cls(runtime, cookies)

    @property
    def lifetime(self) -> timedelta:
        return self.cookies.lifetime

    @staticmethod
    def now() -> datetime:
        return datetime.now(UTC)

    async def viewer(self, session: Session | None) -> Viewer | None:
        if session is None or session.sid is None:
            return None
        row = await self.runtime.storage.signin_session(session.sid, not_before=self.now() - self.lifetime)
        if row is None:
            return None
        # Someone in the people directory acts as that person, under every name they go by (their
        # Slack ids and addresses too), as on every other surface; anyone else as the address.
        person = await self.runtime.storage.person_for(row.address)
        if person is None:
            return Viewer(by=row.address, how=row.how, signin_id=row.id)
        names = tuple(n for n in names_of(person) if n != person.name)
        return Viewer(by=person.name, how=row.how, signin_id=row.id, identities=names)

    async def signed_in(self, request: Request) -> tuple[Session, Viewer]:
        """The session and person of a page that needs one; else SignInNeeded (to /signin)."""
        session = self.cookies.read(request)
        viewer = await self.viewer(session)
        if session is None or viewer is None:
            raise SignInNeeded(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
        return session, viewer

    async def form(self, request: Request, session: Session | None) -> dict[str, str]:
        return await read_form(request, session, public_origin=self.public_origin)

    def page(
        self,
        request: Request,
        template: str,
        *,
        session: Session,
        viewer: Viewer | None,
        status: int = 200,
        **context: Any,
    ) -> HTMLResponse:
        body = self.env.get_template(template).render(
            viewer=viewer, csrf=session.csrf, now=self.now(), title=context.pop("title", "Signoff"), **context
        )
        response = HTMLResponse(body, status_code=status)
        self.cookies.write(response, request, session)
        return response

    def message(
        self,
        request: Request,
        session: Session,
        viewer: Viewer | None,
        status: int,
        heading: str,
        message: str,
        **kw: Any,
    ) -> HTMLResponse:
        return self.page(
            request,
            "message.html",
            session=session,
            viewer=viewer,
            status=status,
            title=heading,
            heading=heading,
            message=message,
            **kw,
        )

    def refused(self, request: Request, exc: CsrfRefused | BadForm) -> HTMLResponse:
        status = 403 if isinstance(exc, CsrfRefused) else 400
        session = self.cookies.read(request) or self.cookies.anonymous()
        return self.message(
            request, session, None, status, "Refused", f"This form was refused: {exc}. Reload the page and try again."
        )


def local_path(candidate: str | None, default: str = "/") -> str:
    """`candidate` when it is a path on this server (never `//host` or a scheme), else `default`."""
    if not candidate or not candidate.startswith("/") or candidate.startswith("//") or "\\" in candidate:
        return default
    if any(ord(ch) < 32 for ch in candidate) or len(candidate) > 2000:
        return default
    return candidate


def to_signin(path: str) -> RedirectResponse:
    return RedirectResponse("/signin?next=" + quote(local_path(path), safe="/"), status_code=303)


def redirect(path: str) -> Response:
    return RedirectResponse(path, status_code=303)
