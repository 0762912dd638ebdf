"""The email channel: IMAP in, SMTP out, replies threaded, approvals answered by reply.

Modules: `parse` (inbound mail to `InboundEmail`), `parse_worker` (parsing in a child process
with a time limit), `tokens` (tokenised reply addresses), `compose` (outgoing messages), `answers`
(reading a decision or an answer), `auth` (is the sender genuine), `imap_watch` (the inbox
watcher), `smtp_send` (delivery), `probe` (try both servers, for `signoff doctor`), `errors`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from channels.email.answers import read_answer, read_decision
    from channels.email.auth import dkim_verify, sender_authenticated
    from channels.email.compose import (
        ThreadRefs,
        compose_approval_request,
        compose_decision_notice,
        compose_question,
        compose_reply,
    )
    from channels.email.errors import EmailError, EmailTooLarge
    from channels.email.imap_watch import ImapSettings, ImapWatcher, MailboxStateStore
    from channels.email.parse import AutoKind, InboundEmail, parse_email
    from channels.email.smtp_send import SendResult, SmtpSettings, send_message
    from channels.email.tokens import TokenClaim, make_reply_address, read_reply_token

# Each name is imported from its module when first used: a process that needs one part (the
# addresses, the parser) does not load the rest (DKIM and DNS, IMAP, SMTP).
_MODULES = {
    "AutoKind": "channels.email.parse",
    "EmailError": "channels.email.errors",
    "EmailTooLarge": "channels.email.errors",
    "ImapSettings": "channels.email.imap_watch",
    "ImapWatcher": "channels.email.imap_watch",
    "InboundEmail": "channels.email.parse",
    "MailboxStateStore": "channels.email.imap_watch",
    "SendResult": "channels.email.smtp_send",
    "SmtpSettings": "channels.email.smtp_send",
    "ThreadRefs": "channels.email.compose",
    "TokenClaim": "channels.email.tokens",
    "compose_approval_request": "channels.email.compose",
    "compose_decision_notice": "channels.email.compose",
    "compose_question": "channels.email.compose",
    "compose_reply": "channels.email.compose",
    "dkim_verify": "channels.email.auth",
    "make_reply_address": "channels.email.tokens",
    "parse_email": "channels.email.parse",
    "read_answer": "channels.email.answers",
    "read_decision": "channels.email.answers",
    "read_reply_token": "channels.email.tokens",
    "send_message": "channels.email.smtp_send",
    "sender_authenticated": "channels.email.auth",
}


__all__ = [
    "AutoKind",
    "EmailError",
    "EmailTooLarge",
    "ImapSettings",
    "ImapWatcher",
    "InboundEmail",
    "MailboxStateStore",
    "SendResult",
    "SmtpSettings",
    "ThreadRefs",
    "TokenClaim",
    "compose_approval_request",
    "compose_decision_notice",
    "compose_question",
    "compose_reply",
    "dkim_verify",
    "make_reply_address",
    "parse_email",
    "read_answer",
    "read_decision",
    "read_reply_token",
    "send_message",
    "sender_authenticated",
]


def __getattr__(name: str) -> Any:
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
