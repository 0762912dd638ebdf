"""`signoff doctor` for email: the settings `serve` would refuse, then the IMAP mailbox (log in, select
the folder, IDLE or polling) and the SMTP server (EHLO, log in, QUIT: nothing is sent)."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from bot.doctor import Report
from bot.email_wiring import email_config, imap_settings, smtp_settings
from bot.errors import ConfigError
from bot.settings import Settings
from channels.email.imap_watch import ImapSettings
from channels.email.probe import ProbeFailed, Step, probe_imap, probe_smtp
from channels.email.smtp_send import SmtpSettings

TLS_FIX = (
    "SIGNOFF_{P}_TLS must match the port ({ports}), and the server's certificate must be valid for "
    "SIGNOFF_{P}_HOST and signed by a CA this machine trusts (the system store, or a file named by SSL_CERT_FILE)"
)
IMAP_FIXES: dict[Step, str] = {
    "unreachable": "check SIGNOFF_IMAP_HOST and SIGNOFF_IMAP_PORT (993 for ssl, 143 for starttls) and that "
    "this machine may connect to them (firewall)",
    "timeout": "check SIGNOFF_IMAP_HOST, SIGNOFF_IMAP_PORT and SIGNOFF_IMAP_TLS: a plain connection to a TLS "
    "port gets no answer",
    "tls": TLS_FIX.format(P="IMAP", ports="ssl on 993, starttls on 143"),
    "login": "check SIGNOFF_IMAP_USER (default SIGNOFF_EMAIL_ADDRESS) and SIGNOFF_IMAP_PASSWORD; Gmail and "
    "Microsoft 365 need an app password and IMAP enabled for the mailbox",
    "folder": "set SIGNOFF_IMAP_FOLDER to a folder that exists (default INBOX)",
    "protocol": "check that SIGNOFF_IMAP_HOST and SIGNOFF_IMAP_PORT name an IMAP server",
}
SMTP_FIXES: dict[Step, str] = {
    "unreachable": "check SIGNOFF_SMTP_HOST and SIGNOFF_SMTP_PORT (587 for starttls, 465 for ssl, 25 for off) "
    "and that this machine may connect to them (firewall; many networks block port 25)",
    "timeout": "check SIGNOFF_SMTP_HOST, SIGNOFF_SMTP_PORT and SIGNOFF_SMTP_TLS: a plain connection to a TLS "
    "port gets no answer",
    "tls": TLS_FIX.format(P="SMTP", ports="starttls on 587, ssl on 465"),
    "login": "check SIGNOFF_SMTP_USER and SIGNOFF_SMTP_PASSWORD; Gmail and Microsoft 365 need an app password",
    "no_auth": "many servers offer login only over TLS: set SIGNOFF_SMTP_TLS=starttls (or ssl); "
    "for a relay that needs no login, unset SIGNOFF_SMTP_USER",
    "protocol": "check that SIGNOFF_SMTP_HOST and SIGNOFF_SMTP_PORT name an SMTP server",
}


def _sender_auth(settings: Settings, report: Report) -> None:
    """Say how replies by email are authenticated: one that is not leaves its request pending."""
    if not settings.email_require_auth:
        report.warn("SIGNOFF_EMAIL_REQUIRE_AUTH=false: a reply from an approver's address decides unauthenticated")
    elif settings.email_authserv_id:
        report.good(f"email replies decide only with a DMARC or aligned DKIM pass from {settings.email_authserv_id}")
    else:
        report.warn(
            "email replies decide only from authenticated senders (SIGNOFF_EMAIL_REQUIRE_AUTH, on by default), "
            "checked by verifying each reply's DKIM signature over DNS; set SIGNOFF_EMAIL_AUTHSERV_ID to your "
            "receiving server's Authentication-Results id to trust its DMARC verdict too"
        )


async def check_email(settings: Settings, report: Report, seconds: float) -> None:
    try:
        email_config(settings)
    except ConfigError as exc:
        report.bad("email configuration", str(exc))
    _sender_auth(settings, report)
    try:
        imap = imap_settings(settings)
    except ConfigError as exc:
        report.bad("IMAP configuration", str(exc))
    else:
        await _check_imap(replace(imap, timeout=seconds), report, settings.imap_poll_interval)
    try:
        smtp = smtp_settings(settings)
    except ConfigError as exc:
        report.bad("SMTP configuration", str(exc))
    else:
        await _check_smtp(replace(smtp, timeout=seconds), report)


async def _check_imap(imap: ImapSettings, report: Report, poll_interval: float) -> None:
    where = f"IMAP {imap.username} at {imap.host}:{imap.port} (tls {imap.tls})"
    try:
        # imapclient blocks; every socket operation is bounded by imap.timeout.
        found = await asyncio.to_thread(probe_imap, imap)
    except ProbeFailed as failed:
        fix = IMAP_FIXES[failed.step]
        if failed.folders:
            fix += "; this mailbox has: " + ", ".join(failed.folders)
        report.bad(f"{where}: {_what(failed, imap.mailbox)}", fix)
        return
    waits = "IDLE supported" if found.idle else f"no IDLE: new mail is polled every {poll_interval:g}s"
    report.good(f"{where}: logged in, {imap.mailbox} has {found.messages} messages, {waits}")


async def _check_smtp(smtp: SmtpSettings, report: Report) -> None:
    where = f"SMTP {smtp.host}:{smtp.port} (tls {smtp.tls})"
    try:
        found = await probe_smtp(smtp)
    except ProbeFailed as failed:
        report.bad(f"{where}: {_what(failed)}", SMTP_FIXES[failed.step])
        return
    login = f"logged in as {smtp.username}" if found.logged_in else "no login configured"
    report.good(f"{where}: {found.greeting} answered EHLO, {login}; nothing sent")


def _what(failed: ProbeFailed, folder: str = "") -> str:
    summary = {
        "unreachable": "cannot connect",
        "timeout": "no answer in time",
        "tls": "TLS failed",
        "login": "login refused",
        "no_auth": "the server offers no login",
        "folder": f"cannot select folder {folder!r}",
        "protocol": "unexpected answer",
    }[failed.step]
    return f"{summary}: {failed.detail}"
