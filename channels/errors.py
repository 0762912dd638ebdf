"""Errors raised by channel adapters.

    ChannelError
    ├── DeliveryError
    │   ├── RetryableDeliveryError   temporary: the dispatcher retries with backoff
    │   └── PermanentDeliveryError   retrying cannot help: recorded on the thread, not retried
    └── ChannelConfigError           a setting is missing or wrong; names the variable
"""


class ChannelError(Exception):
    pass


class DeliveryError(ChannelError):
    pass


class RetryableDeliveryError(DeliveryError):
    pass


class PermanentDeliveryError(DeliveryError):
    pass


class ChannelConfigError(ChannelError):
    pass
