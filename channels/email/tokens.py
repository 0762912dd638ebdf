"""Reply addresses that carry a request: `agent+<token>@example.com`.

The token names the request and proves we issued it for one approver:

    token = base32_lower( header | expiry | request id | mac )
    header  1 byte    version (high nibble) and how the request id is packed (low nibble)
    expiry  4 bytes   minutes since the Unix epoch, rounded up; 0 = no expiry
    id      n bytes   a UUID as its 16 bytes, lowercase hex as bytes, anything else as UTF-8
    mac     12 bytes  HMAC-SHA256(key, header | expiry | id | approver)[:12]

The approver is not in the token: the MAC binds it, and `read_reply_token` checks it against the
address the reply came from. Addresses are compared exactly, lowercased in ASCII only: an address
that Unicode normalisation would change (`\u212aate@` with the Kelvin sign, fullwidth letters) is
refused outright, and look-alike letters from another script (`kаte@` with a Cyrillic `а`) simply
never match, so no spelling of a sender can stand in for another. A forged, altered, expired or
foreign token, or a reply from someone else, yields None; callers cannot tell those apart, and an
attacker learns nothing.

Size: a local part may hold 64 characters (RFC 5321). A UUID request id with an expiry makes a
53-character token, which leaves room for `agent+`. That budget is why the MAC is 96 bits rather
than 128: forging one still takes about 2**95 attempts, each an email we would receive.
Base32 in lowercase survives mail systems that fold the local part's case.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parseaddr

_VERSION = 1
_KIND_UTF8, _KIND_UUID, _KIND_HEX = 0, 1, 2
_MAC_BYTES = 12
_EXPIRY_BYTES = 4
_MAX_LOCAL_PART = 64
_KEY_LABEL = b"signoff/email-reply-token/v1"
DEFAULT_TOKEN_TTL = timedelta(days=14)
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


@dataclass(frozen=True)
class TokenClaim:
    """What a valid token says: this request, answered by this (verified) approver."""

    request_id: str
    approver: str  # the sender's bare address, lowercased; the token was issued for it
    expires_at: datetime | None


def make_reply_address(
    agent_address: str,
    request_id: str,
    approver: str,
    secret: str | bytes,
    expires_at: datetime | None = None,
    *,
    separator: str = "+",
) -> str:
    """`local+token@domain` for `agent_address`; a reply to it can be traced to `request_id`.

    Raises ValueError when the local part would exceed 64 characters (a long request id or agent
    local part): keep request ids compact (UUIDs fit).
    """
    local, domain = _split(agent_address)
    kind, packed_id = _pack_id(request_id)
    header = bytes([(_VERSION << 4) | kind])
    expiry = _pack_expiry(expires_at)
    body = header + expiry + packed_id
    approver_form = comparable_address(approver)
    if approver_form is None:
        raise ValueError(f"not an address a reply can be matched to: {approver!r}")
    mac = _mac(secret, body, approver_form)
    token = base64.b32encode(body + mac).decode("ascii").rstrip("=").lower()
    local_part = f"{local}{separator}{token}"
    if len(local_part) > _MAX_LOCAL_PART:
        raise ValueError(
            f"reply address local part is {len(local_part)} characters (max {_MAX_LOCAL_PART}); "
            "use a shorter agent address or shorter request ids"
        )
    return f"{local_part}@{domain}"


def read_reply_token(
    address: str,
    secret: str | bytes,
    now: datetime,
    sender: str,
    *,
    separator: str = "+",
) -> TokenClaim | None:
    """Verify the token in `address` (a To/Delivered-To address) for a reply sent by `sender`."""
    try:
        local, _domain = _split(address)
    except ValueError:
        return None
    _, sep, token = local.rpartition(separator)
    if not sep or not token:
        return None
    sender_form = comparable_address(sender)
    if sender_form is None:
        return None
    raw = _b32decode(token.lower())
    if raw is None or len(raw) < 1 + _EXPIRY_BYTES + 1 + _MAC_BYTES:
        return None
    body, mac = raw[:-_MAC_BYTES], raw[-_MAC_BYTES:]
    if not hmac.compare_digest(mac, _mac(secret, body, sender_form)):
        return None
    version, kind = body[0] >> 4, body[0] & 0x0F
    if version != _VERSION:
        return None
    expires_at = _unpack_expiry(body[1 : 1 + _EXPIRY_BYTES])
    if expires_at is not None and _aware(now) >= expires_at:
        return None
    request_id = _unpack_id(kind, body[1 + _EXPIRY_BYTES :])
    if request_id is None:
        return None
    return TokenClaim(request_id=request_id, approver=sender_form, expires_at=expires_at)


def _split(address: str) -> tuple[str, str]:
    addr = parseaddr(address)[1] or address
    local, at, domain = addr.strip().rpartition("@")
    if not at or not local or not domain:
        raise ValueError(f"not an email address: {address!r}")
    return local, domain


def comparable_address(address: str) -> str | None:
    """`address` as compared with another: the bare address with ASCII letters lowercased and
    nothing else changed; None for an address that NFKC normalisation would change (`\u212a` for
    `k`, fullwidth letters, ligatures), which could otherwise pass for another address."""
    bare = (parseaddr(address)[1] or address).strip()
    if not bare or unicodedata.normalize("NFKC", bare) != bare:
        return None
    return bare.translate(_ASCII_LOWER)


def _key(secret: str | bytes) -> bytes:
    secret_bytes = secret.encode() if isinstance(secret, str) else secret
    return hmac.new(secret_bytes, _KEY_LABEL, hashlib.sha256).digest()


def _mac(secret: str | bytes, body: bytes, approver: str) -> bytes:
    message = body + b"\x00" + approver.encode("utf-8")
    return hmac.new(_key(secret), message, hashlib.sha256).digest()[:_MAC_BYTES]


def _pack_id(request_id: str) -> tuple[int, bytes]:
    try:
        if str(uuid.UUID(request_id)) == request_id:
            return _KIND_UUID, uuid.UUID(request_id).bytes
    except ValueError:
        pass
    if request_id and len(request_id) % 2 == 0 and request_id == request_id.lower():
        try:
            return _KIND_HEX, bytes.fromhex(request_id)
        except ValueError:
            pass
    return _KIND_UTF8, request_id.encode("utf-8")


def _unpack_id(kind: int, data: bytes) -> str | None:
    if kind == _KIND_UUID and len(data) == 16:
        return str(uuid.UUID(bytes=data))
    if kind == _KIND_HEX:
        return data.hex()
    if kind == _KIND_UTF8:
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            return None
    return None


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _pack_expiry(expires_at: datetime | None) -> bytes:
    if expires_at is None:
        return bytes(_EXPIRY_BYTES)
    minutes = max(1, math.ceil(_aware(expires_at).timestamp() / 60))
    return minutes.to_bytes(_EXPIRY_BYTES, "big")


def _unpack_expiry(data: bytes) -> datetime | None:
    minutes = int.from_bytes(data, "big")
    return None if minutes == 0 else datetime.fromtimestamp(minutes * 60, UTC)


def _b32decode(token: str) -> bytes | None:
    """The bytes of `token`, only if it is their one spelling: base32's last character carries unused
    bits, and a token with them changed (an altered address) must not decode to the same bytes."""
    if not token.isascii() or not token.isalnum():
        return None
    padded = token.upper() + "=" * (-len(token) % 8)
    try:
        raw = base64.b32decode(padded)
    except (ValueError, TypeError):
        return None
    return raw if base64.b32encode(raw).decode("ascii").rstrip("=").lower() == token else None
