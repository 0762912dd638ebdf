"""A recording SMTP server for tests (aiosmtpd on 127.0.0.1), with TLS, AUTH and fault injection.

    server = SmtpServer.start(tls=True, auth={"bot": "pw"})   # STARTTLS with a trustme CA
    ...send...
    server.messages[0].rcpt_tos, server.messages[0].message["Subject"]
    server.fail_next(451, "4.3.0 try later")   # the next DATA is answered with this
    server.hang_next(5.0)                       # the next DATA stalls (client timeouts)
    server.refuse("carol@example.com", 451, "4.2.1 mailbox busy")   # RCPT TO refused until accept()
    server.stop()

`client_context()` gives an SSLContext that trusts the server's certificate.
"""

from __future__ import annotations

import ssl
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any, Literal

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session

from tests.support.dovecot import free_port


@dataclass(frozen=True)
class Received:
    mail_from: str
    rcpt_tos: list[str]
    raw: bytes
    message: EmailMessage
    authenticated_as: str | None


Stage = Literal["rcpt", "data"]


@dataclass
class _Planned:
    """A fault for one recipient's next `times` messages, at RCPT TO or at DATA."""

    stage: Stage
    times: int
    stall: float = 0.0
    reply: str | None = None  # "451 4.3.0 ..."; None: answer normally (after the stall)
    keep: bool = False  # at DATA: keep the message before stalling (a server that queued it, then hung)


@dataclass
class _Faults:
    lock: threading.Lock = field(default_factory=threading.Lock)
    fail: list[tuple[int, str]] = field(default_factory=list)
    hang: list[float] = field(default_factory=list)
    refused: dict[str, tuple[int, str]] = field(default_factory=dict)
    planned: dict[str, list[_Planned]] = field(default_factory=dict)

    def take(self, address: str, stage: Stage) -> _Planned | None:
        with self.lock:
            plan = self.planned.get(address.lower(), [])
            found = next((p for p in plan if p.stage == stage), None)
            if found is not None:
                found.times -= 1
                if found.times <= 0:
                    plan.remove(found)
            return found


class _Handler:
    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    async def handle_RCPT(
        self, smtp_server: Any, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        import asyncio

        faults = self.server._faults
        with faults.lock:
            refusal = faults.refused.get(address.lower())
            self.server.attempts[address.lower()] += 1
        if refusal is not None:
            return f"{refusal[0]} {refusal[1]}"
        planned = faults.take(address, "rcpt")
        if planned is not None:
            await asyncio.sleep(planned.stall)
            if planned.reply is not None:
                return planned.reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, smtp_server: Any, session: Session, envelope: Envelope) -> str:
        import asyncio

        faults = self.server._faults
        with faults.lock:
            hang = faults.hang.pop(0) if faults.hang else None
            fail: tuple[int, str] | str | None = faults.fail.pop(0) if faults.fail else None
        kept = False
        for rcpt in envelope.rcpt_tos:
            planned = faults.take(str(rcpt), "data")
            if planned is not None:
                hang = (hang or 0.0) + planned.stall
                if planned.reply is not None and fail is None:
                    fail = planned.reply
                if planned.keep and not kept:
                    self._keep(session, envelope)
                    kept = True
        if hang is not None:
            # A client that hangs up meanwhile cancels this: the message is dropped (unless kept).
            await asyncio.sleep(hang)
        if fail is not None:
            return fail if isinstance(fail, str) else f"{fail[0]} {fail[1]}"
        if not kept:
            self._keep(session, envelope)
        return "250 2.0.0 OK: queued"

    def _keep(self, session: Session, envelope: Envelope) -> None:
        content = envelope.original_content or envelope.content or b""
        raw = content.encode() if isinstance(content, str) else bytes(content)
        login = session.auth_data.login if isinstance(session.auth_data, LoginPassword) else None
        self.server.messages.append(
            Received(
                mail_from=str(envelope.mail_from),
                rcpt_tos=[str(rcpt) for rcpt in envelope.rcpt_tos],
                raw=raw,
                message=_parse(raw),
                authenticated_as=login.decode() if isinstance(login, bytes) else login,
            )
        )


def _parse(raw: bytes) -> EmailMessage:
    message = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(message, EmailMessage)
    return message


class SmtpServer:
    """See the module docstring."""

    host = "127.0.0.1"

    def __init__(self, *, tls: bool = False, auth: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.messages: list[Received] = []
        self.attempts: Counter[str] = Counter()  # RCPT TOs seen, by lower-cased address
        self._faults = _Faults()
        self._auth = auth
        self.ca_pem: bytes | None = None
        tls_context = None
        if tls:
            import trustme

            ca = trustme.CA()
            cert = ca.issue_cert("127.0.0.1", "localhost")
            tls_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            cert.configure_cert(tls_context)
            self.ca_pem = ca.cert_pem.bytes()
        kwargs: dict[str, Any] = {}
        if tls_context is not None:
            kwargs["tls_context"] = tls_context
            kwargs["require_starttls"] = True
        if auth is not None:
            kwargs["authenticator"] = self._authenticate
            kwargs["auth_require_tls"] = tls
            kwargs["auth_required"] = True
        self._controller = Controller(_Handler(self), hostname=self.host, port=self.port, **kwargs)

    @classmethod
    def start(cls, *, tls: bool = False, auth: dict[str, str] | None = None) -> SmtpServer:
        server = cls(tls=tls, auth=auth)
        server._controller.start()
        return server

    def stop(self) -> None:
        self._controller.stop()

    def client_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        if self.ca_pem is not None:
            context.load_verify_locations(cadata=self.ca_pem.decode())
        return context

    def fail_next(self, code: int, message: str) -> None:
        """Answer the next message's DATA with `code message` (e.g. 451 or 554)."""
        with self._faults.lock:
            self._faults.fail.append((code, message))

    def refuse(self, address: str, code: int, message: str) -> None:
        """Answer RCPT TO `address` with `code message` until `accept(address)`."""
        with self._faults.lock:
            self._faults.refused[address.lower()] = (code, message)

    def accept(self, address: str) -> None:
        with self._faults.lock:
            self._faults.refused.pop(address.lower(), None)

    def hang_next(self, seconds: float) -> None:
        """Stall `seconds` before answering the next message's DATA."""
        with self._faults.lock:
            self._faults.hang.append(seconds)

    def fail_for(self, address: str, code: int, message: str, *, times: int = 1, stage: Stage = "data") -> None:
        """Answer `code message` to the next `times` messages for `address`, at RCPT TO or at DATA."""
        self._plan(address, _Planned(stage, times, reply=f"{code} {message}"))

    def stall_for(
        self, address: str, seconds: float, *, times: int = 1, stage: Stage = "data", keep: bool = False
    ) -> None:
        """Stall `seconds` at RCPT TO or DATA of the next `times` messages for `address`, then answer
        as usual. A client that times out first hangs up, and the message is dropped; with `keep`
        (DATA only) it was kept before the stall, as by a server that queued it and then hung: the
        client never learns it was sent."""
        self._plan(address, _Planned(stage, times, stall=seconds, keep=keep))

    def _plan(self, address: str, planned: _Planned) -> None:
        with self._faults.lock:
            self._faults.planned.setdefault(address.lower(), []).append(planned)

    def wait_for_messages(self, count: int, timeout: float = 5.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while len(self.messages) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(self.messages)} messages received, expected {count}")
            time.sleep(0.01)
        return self.messages

    def _authenticate(
        self, server: Any, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        # handled=False: aiosmtpd answers a failure itself; otherwise a failed login hangs the client.
        if not isinstance(auth_data, LoginPassword) or self._auth is None:
            return AuthResult(success=False, handled=False)
        login = auth_data.login.decode()
        ok = self._auth.get(login) == auth_data.password.decode()
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)
