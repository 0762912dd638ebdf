"""Errors raised by channel adapters.

ChannelError
├── DeliveryError
│   ├── RetryableDeliveryError   temporary: the dispatcher retries with backoff (or after `retry_after`)
│   └── PermanentDeliveryError   retrying cannot help: recorded on the thread, not retried
└── ChannelConfigError           a setting is missing or wrong; names the variable
"""


class ChannelError(Exception):
    pass


class DeliveryError(ChannelError):
    pass


class RetryableDeliveryError(DeliveryError):
    """`retry_after`: the seconds the other side (a Slack 429, our own outbound mail limit) asked
    us to wait; the dispatcher waits at least that long, up to its bound."""

    def __init__(self, *args: object, retry_after: float | None = None) -> None:
        super().__init__(*args)
        self.retry_after = retry_after


class PermanentDeliveryError(DeliveryError):
    pass


class ChannelConfigError(ChannelError):
    pass
