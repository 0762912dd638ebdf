"""The email channel: IMAP in, SMTP out, replies threaded, approvals answered by reply.

Modules: `parse` (inbound mail to `InboundEmail`), `parse_worker` (parsing in a child process
with a time limit), `tokens` (tokenised reply addresses), `compose` (outgoing messages), `answers`
(reading a decision or an answer), `auth` (is the sender genuine), `imap_watch` (the inbox
watcher), `smtp_send` (delivery), `probe` (try both servers, for `signoff doctor`), `errors`.
"""

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
