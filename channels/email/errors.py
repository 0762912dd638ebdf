"""Errors raised by the email channel.

    channels.errors.ChannelError
    └── EmailError
        └── EmailTooLarge        an inbound message is over the size limit; it is never parsed

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
