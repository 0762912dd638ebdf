"""Sign-in and sign-out: a link mailed through the configured SMTP, used once, within minutes.

Asking for a link always gets the same answer, whether or not the address may sign in: a link is
mailed (in the background, so the time taken tells nothing either) only to an address that may,
and every ask counts toward the limits per address and per client address (SIGNOFF_WEB_SIGNIN_
RATE_LIMIT, SIGNOFF_WEB_SIGNIN_IP_RATE_LIMIT, per hour), known or not. Over a limit: 429.

Without SMTP (SIGNOFF_SMTP_HOST and SIGNOFF_EMAIL_ADDRESS unset), the link is written to the
server's log instead, for the person at the console: the README's quickstart signs in that way.

A link opens a page with a Sign in button rather than signing in by itself, so a mail scanner
that follows links uses nothing up. Its token is 256 random bits, kept only as a hash.

Someone in the people directory may also sign in with a personal token (`signoff tokens create`):
the session is then the token's person's; revoking any of their tokens ends their token sessions.
Anyone in the directory with an email address may ask for a link too.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
from datetime import timedelta
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response

from bot.web.context import Web, local_path, redirect
from bot.web.people import ascii_lower, sign_in_addresses
from bot.web.sessions import Session
from storage.people import TokenState
from storage.web_signins import SigninLimits

log = logging.getLogger(__name__)

_ADDRESS = re.compile(r"[^@\s<>()\[\],;:\"\\]{1,64}@[A-Za-z0-9.-]{1,255}")


class SignIn:
    def __init__(self, web: Web) -> None:
        self.web = web
        settings = web.runtime.settings
        self.settings = settings
        self.mail_ready = bool(settings.smtp_host and settings.email_address)
        self.link_ttl = timedelta(minutes=settings.web_link_minutes)
        self.limits = SigninLimits(settings.web_signin_rate_limit, settings.web_signin_ip_rate_limit)
        agents = web.runtime.agents.values() if web.runtime.agents else [web.runtime.agent]
        self.addresses = frozenset().union(*(sign_in_addresses(a, settings.approver_list) for a in agents))
        self.base_url = settings.web_url or f"http://{settings.host}:{settings.port}"
        self._sending: set[asyncio.Task[None]] = set()

    def routes(self) -> list[tuple[str, Any, list[str]]]:
        return [
            ("/signin", self.signin_page, ["GET"]),
            ("/signin/link", self.ask_link, ["POST"]),
            ("/signin/link", self.link_page, ["GET"]),
            ("/signin/link/use", self.use_link, ["POST"]),
            ("/signin/token", self.use_token, ["POST"]),
            ("/signout", self.signout, ["POST"]),
        ]

    def _session(self, request: Request) -> Session:
        return self.web.cookies.read(request) or self.web.cookies.anonymous()

    async def signin_page(self, request: Request) -> Response:
        session = self._session(request)
        if await self.web.viewer(session) is not None:
            return redirect(local_path(request.query_params.get("next")))
        return self.web.page(
            request,
            "signin.html",
            session=session,
            viewer=None,
            title="Sign in",
            mail=self.mail_ready,
            next=local_path(request.query_params.get("next")),
            link_minutes=int(self.settings.web_link_minutes),
        )

    async def ask_link(self, request: Request) -> Response:
        session = self.web.cookies.read(request)
        fields = await self.web.form(request, session)
        assert session is not None  # read_form refuses a post without one
        address = ascii_lower(fields.get("address", "").strip())
        if len(address) > 320 or not _ADDRESS.fullmatch(address):
            return self.web.message(
                request, session, None, 400, "Sign in", "That is not an email address.", back="/signin"
            )
        known = address in self.addresses or await self.web.runtime.storage.person_for(address) is not None
        token = secrets.token_urlsafe(32) if known else None
        ip = request.client.host if request.client else ""
        recorded = await self.web.runtime.storage.signin_asked(
            address=address, ip=ip, token=token, now=self.web.now(), ttl=self.link_ttl, limits=self.limits
        )
        if not recorded:
            log.warning("web sign-in: too many links asked for %s or from %s in the past hour", address, ip)
            return self.web.message(
                request,
                session,
                None,
                429,
                "Sign in",
                "Too many sign-in links were asked for in the past hour. Try again later.",
            )
        if token is not None:
            task = asyncio.create_task(self._mail(address, token, local_path(fields.get("next"))))
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)
        else:
            log.info("web sign-in: a link was asked for %s, who may not sign in; none sent", address)
        return self.web.message(
            request,
            session,
            None,
            200,
            "Check your mail",
            f"If {address} may sign in here, a sign-in link is on its way to it. "
            f"It works once, for {int(self.settings.web_link_minutes)} minutes.",
        )

    async def _mail(self, address: str, token: str, next_path: str) -> None:
        from bot.email_wiring import smtp_settings
        from channels.email.smtp_send import send_message

        link = f"{self.base_url}/signin/link?token={token}"
        if next_path != "/":
            link += "&next=" + quote(next_path, safe="/")
        if not self.mail_ready:
            # No way to mail it: the person at the console (who could decide from the CLI anyway) gets it.
            log.warning("web sign-in link for %s (no SMTP configured, so it is shown here only): %s", address, link)
            return
        sender = str(self.settings.email_address)
        msg = EmailMessage()
        msg["From"] = sender
        msg["To"] = address
        msg["Subject"] = "Your Signoff sign-in link"
        msg["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
        msg["Auto-Submitted"] = "auto-generated"
        minutes = int(self.settings.web_link_minutes)
        msg.set_content(
            f"Open this link to sign in to Signoff:\n\n{link}\n\n"
            f"It works once, for {minutes} minutes. If you did not ask for it, ignore this mail.\n"
        )
        try:
            await send_message(msg, smtp_settings(self.settings))
        except Exception as exc:
            log.error("web sign-in: the link for %s could not be mailed: %s", address, exc)

    async def link_page(self, request: Request) -> Response:
        session = self._session(request)
        token = request.query_params.get("token", "")
        address = (
            await self.web.runtime.storage.signin_link_address(token, now=self.web.now())
            if 0 < len(token) < 200
            else None
        )
        if address is None:
            return self.web.message(
                request,
                session,
                None,
                410,
                "Sign in",
                "This sign-in link has expired or was already used. Ask for a new one.",
                back="/signin",
            )
        return self.web.page(
            request,
            "signin_link.html",
            session=session,
            viewer=None,
            title="Sign in",
            token=token,
            address=address,
            next=local_path(request.query_params.get("next")),
        )

    async def use_link(self, request: Request) -> Response:
        session = self.web.cookies.read(request)
        fields = await self.web.form(request, session)
        assert session is not None
        token = fields.get("token", "")
        row = (
            await self.web.runtime.storage.signin_use_link(token, now=self.web.now()) if 0 < len(token) < 200 else None
        )
        if row is None:
            return self.web.message(
                request,
                session,
                None,
                410,
                "Sign in",
                "This sign-in link has expired or was already used. Ask for a new one.",
                back="/signin",
            )
        log.info("web sign-in: %s signed in by a mailed link", row.address)
        response = redirect(local_path(fields.get("next")))
        # A new CSRF token with the new session: nothing from before the sign-in carries over.
        self.web.cookies.write(response, request, Session(csrf=secrets.token_urlsafe(32), sid=row.id))
        return response

    async def use_token(self, request: Request) -> Response:
        session = self.web.cookies.read(request)
        fields = await self.web.form(request, session)
        assert session is not None
        token = fields.get("token", "").strip()
        check = await self.web.runtime.storage.check_token(token) if 0 < len(token) < 200 else None
        if check is None or check.state is not TokenState.VALID or check.person is None:
            state = check.state.value if check is not None else TokenState.UNKNOWN.value
            log.warning("web sign-in: a personal token was refused (%s)", state)
            why = {"revoked": "was revoked", "expired": "has expired"}.get(state, "is not one this server issued")
            return self.web.message(
                request,
                session,
                None,
                401,
                "Sign in",
                f"That personal token {why}. Ask an operator for a new one (signoff tokens create).",
                back="/signin",
            )
        ip = request.client.host if request.client else ""
        row = await self.web.runtime.storage.signin_start(
            address=check.person.name, how="token", ip=ip, now=self.web.now()
        )
        log.info("web sign-in: %s signed in with personal token %s", check.person.name, check.token_id)
        response = redirect(local_path(fields.get("next")))
        self.web.cookies.write(response, request, Session(csrf=secrets.token_urlsafe(32), sid=row.id))
        return response

    async def signout(self, request: Request) -> Response:
        session = self.web.cookies.read(request)
        await self.web.form(request, session)
        assert session is not None
        if session.sid:
            await self.web.runtime.storage.signin_end(session.sid, now=self.web.now())
        response = redirect("/signin")
        self.web.cookies.clear(response, request)
        return response
