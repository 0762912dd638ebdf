"""Who is who in a message: our own address and its plus-variants, people, and our Message-IDs.

Our Message-IDs are derived, not random: `<signoff.<label>.<mac>@<domain>>`, where the MAC
(HMAC-SHA256 with the secret key) covers what the message is (an outbox row and its recipient,
or the inbound message a note answers). Sending the same thing again, after a crash or a
retry, yields the same Message-ID, so recipients' clients show one message, and a reply naming it
can be traced; nobody without the key can guess the id of a message they did not receive.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable

_LABEL = re.compile(r"[^a-z0-9-]+")


class Mailbox:
    """The agent's address, e.g. `agent@example.com`, and what counts as it."""

    def __init__(self, address: str, *, separator: str = "+") -> None:
        address = address.strip().lower()
        local, at, domain = address.rpartition("@")
        if not at or not local or not domain:
            raise ValueError(f"not an email address: {address!r}")
        self.address = address
        self.local = local
        self.domain = domain
        self.separator = separator

    def is_ours(self, address: str) -> bool:
        """`agent@example.com` or any `agent+<anything>@example.com`."""
        local, _, domain = address.strip().lower().rpartition("@")
        if domain != self.domain:
            return False
        return local == self.local or local.startswith(self.local + self.separator)

    def tagged(self, addresses: Iterable[str]) -> list[str]:
        """Our plus-addresses among `addresses` (the ones that may carry a reply token), in order."""
        prefix = self.local + self.separator
        found = []
        for address in addresses:
            local, _, domain = address.strip().lower().rpartition("@")
            if domain == self.domain and local.startswith(prefix) and len(local) > len(prefix):
                found.append(address.strip().lower())
        return list(dict.fromkeys(found))

    def others(self, addresses: Iterable[str]) -> list[str]:
        """People: `addresses` without ours and without duplicates, lowercased, in order."""
        people = [a.strip().lower() for a in addresses if "@" in a and not self.is_ours(a)]
        return list(dict.fromkeys(people))


def derived_message_id(secret: str | bytes, domain: str, label: str, *parts: object) -> str:
    """A Message-ID that is always the same for the same `label` and `parts`. See the module doc."""
    key = secret.encode() if isinstance(secret, str) else secret
    data = "\x00".join(str(part) for part in (label, *parts)).encode("utf-8")
    mac = hmac.new(key, b"signoff/message-id/v1\x00" + data, hashlib.sha256).hexdigest()[:24]
    clean = _LABEL.sub("-", label.lower()).strip("-") or "m"
    return f"<signoff.{clean}.{mac}@{domain}>"


def email_addresses(values: Iterable[str]) -> list[str]:
    """Only the email addresses among identities (Slack ids and group ids dropped), lowercased."""
    found = [v.strip().lower() for v in values if v and v.count("@") == 1 and " " not in v.strip()]
    return list(dict.fromkeys(found))
