"""The email channel: IMAP in, SMTP out, replies threaded, approvals answered by reply.

Modules: `parse` (inbound mail to `InboundEmail`), `tokens` (tokenised reply addresses),
`compose` (outgoing messages), `answers` (reading a decision or an answer), `auth` (is the sender
genuine), `imap_watch` (the inbox watcher), `smtp_send` (delivery), `errors`.
"""
