"""Errors raised by the email channel.

    channels.errors.ChannelError
    └── EmailError
        ├── EmailTooLarge        an inbound message is over the size limit; it is never parsed
        ├── ParseFailed          the parser raised on a message, or its process died
        │   └── ParseTimeout     parsing took longer than the time limit (the process was killed)
        └── ParserUnavailable    the parser process could not start: our fault, not the message's

Delivery failures use `channels.errors.RetryableDeliveryError` / `PermanentDeliveryError`
(see `channels.email.smtp_send`), so the dispatcher treats every channel alike.
"""

from __future__ import annotations

from channels.errors import ChannelError


class EmailError(ChannelError):
    pass


class EmailTooLarge(EmailError):
    """The raw message is larger than the configured limit."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"email is {size} bytes, over the limit of {limit} bytes")
        self.size = size
        self.limit = limit


class ParseFailed(EmailError):
    """A message could not be parsed: the parser raised, or its process died."""


class ParseTimeout(ParseFailed):
    """Parsing a message took longer than the time limit."""


class ParserUnavailable(EmailError):
    """The parser process could not be started; the message is not to blame (retry later)."""
