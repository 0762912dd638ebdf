"""Try the mailbox's servers the way the channel uses them, reading and sending nothing.

For `signoff doctor`. `probe_imap` connects in the configured TLS mode, logs in and selects the
folder; `probe_smtp` connects, says EHLO, logs in when a user is set, and QUITs. A failure raises
`ProbeFailed` with the step that failed, so the caller can say how to fix it:

    unreachable   refused connection, unknown host, no route
    timeout       no answer within the settings' timeout
    tls           TLS handshake failed (untrusted certificate, TLS spoken to a plain port), or
                  the server offers no STARTTLS where it is required
    login         the server refused the user name or password
    no_auth       SMTP only: a user is set but the server offers no login (AUTH)
    folder        IMAP only: the folder cannot be selected (`folders` lists what exists)
    protocol      anything else the server answered that we did not expect
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from typing import Literal

import aiosmtplib
from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientAbortError, IMAPClientError, LoginError

from channels.email.imap_watch import ImapSettings, close_imap, open_imap
from channels.email.smtp_send import SmtpSettings

Step = Literal["unreachable", "timeout", "tls", "login", "no_auth", "folder", "protocol"]


class ProbeFailed(Exception):
    def __init__(self, step: Step, detail: str, folders: tuple[str, ...] = ()) -> None:
        super().__init__(detail)
        self.step: Step = step
        self.detail = detail
        self.folders = folders


@dataclass(frozen=True)
class ImapProbe:
    messages: int  # in the selected folder
    idle: bool  # the server announces IDLE (else the watcher polls)


@dataclass(frozen=True)
class SmtpProbe:
    greeting: str  # the first line of the server's EHLO answer: its name
    logged_in: bool


def probe_imap(settings: ImapSettings) -> ImapProbe:
    """Blocking (imapclient); each socket operation is bounded by `settings.timeout`."""
    try:
        client = open_imap(settings)
    except IMAPClientError as exc:  # imaplib's own error for a server without STARTTLS
        raise ProbeFailed("tls" if settings.tls == "starttls" else "protocol", _text(exc)) from exc
    except OSError as exc:
        raise _network_failure(exc) from exc
    try:
        return _log_in_and_select(client, settings)
    finally:
        close_imap(client)


def _log_in_and_select(client: IMAPClient, settings: ImapSettings) -> ImapProbe:
    try:
        client.login(settings.username, settings.password)
    except LoginError as exc:
        raise ProbeFailed("login", _text(exc)) from exc
    except IMAPClientError as exc:
        raise ProbeFailed("protocol", _text(exc)) from exc
    except OSError as exc:
        raise _network_failure(exc) from exc
    try:
        selected = client.select_folder(settings.mailbox, readonly=True)
        idle = client.has_capability("IDLE")
    except IMAPClientAbortError as exc:  # the connection broke
        raise ProbeFailed("protocol", _text(exc)) from exc
    except IMAPClientError as exc:
        raise ProbeFailed("folder", _text(exc), _folder_names(client)) from exc
    except OSError as exc:
        raise _network_failure(exc) from exc
    return ImapProbe(messages=int(selected.get(b"EXISTS", 0)), idle=idle)


def _folder_names(client: IMAPClient) -> tuple[str, ...]:
    try:
        return tuple(str(name) for _flags, _delimiter, name in client.list_folders())
    except (IMAPClientError, OSError):
        return ()


async def probe_smtp(settings: SmtpSettings) -> SmtpProbe:
    """Each step is bounded by `settings.timeout`."""
    smtp = aiosmtplib.SMTP(**settings.connection_options())
    try:
        await smtp.connect()
    except aiosmtplib.SMTPConnectTimeoutError as exc:
        raise ProbeFailed("timeout", str(exc)) from exc
    except aiosmtplib.SMTPException as exc:
        raise _smtp_connect_failure(exc) from exc
    except OSError as exc:
        raise _network_failure(exc) from exc
    try:
        return await _ehlo_and_log_in(smtp, settings)
    finally:
        smtp.close()


async def _ehlo_and_log_in(smtp: aiosmtplib.SMTP, settings: SmtpSettings) -> SmtpProbe:
    try:
        answer = await smtp.ehlo()
        if settings.username:
            if not smtp.supports_extension("auth"):
                raise ProbeFailed("no_auth", f"{settings.host} offers no AUTH after EHLO")
            await smtp.login(settings.username, settings.password or "")
        await smtp.quit()
    except aiosmtplib.SMTPAuthenticationError as exc:
        raise ProbeFailed("login", f"{exc.code} {exc.message}") from exc
    except aiosmtplib.SMTPTimeoutError as exc:
        raise ProbeFailed("timeout", str(exc)) from exc
    except aiosmtplib.SMTPResponseException as exc:
        raise ProbeFailed("protocol", f"{exc.code} {exc.message}") from exc
    except (aiosmtplib.SMTPException, OSError) as exc:
        raise ProbeFailed("protocol", str(exc)) from exc
    return SmtpProbe(greeting=answer.message.partition("\n")[0], logged_in=bool(settings.username))


def _smtp_connect_failure(exc: aiosmtplib.SMTPException) -> ProbeFailed:
    cause = exc.__cause__
    if isinstance(cause, OSError):
        return _network_failure(cause)
    if "STARTTLS" in str(exc):
        return ProbeFailed("tls", str(exc))
    return ProbeFailed("protocol", str(exc))


def _network_failure(exc: OSError) -> ProbeFailed:
    # The order matters: SSL errors and timeouts are OSErrors too.
    if isinstance(exc, ssl.SSLError):
        return ProbeFailed("tls", str(exc))
    if isinstance(exc, TimeoutError):
        return ProbeFailed("timeout", str(exc) or "no answer")
    return ProbeFailed("unreachable", str(exc))


def _text(exc: Exception) -> str:
    """imaplib's messages are often bytes reprs: b'[AUTHENTICATIONFAILED] ...'."""
    text = str(exc)
    return text[2:-1] if text[:2] in ("b'", 'b"') else text
