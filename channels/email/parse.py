"""Inbound mail to `InboundEmail`: addresses, threading headers, a clean text body, the new part
of a reply, attachment names, and whether the message was sent by a machine.

Parsing uses the stdlib `email` package with `policy.default`. It never raises on malformed
input: a header that cannot be parsed is read raw, a body that cannot be decoded is decoded with
replacement characters. Only a message over `max_bytes` is refused (`EmailTooLarge`), before
parsing. Attachments are listed by name and size and never read into the text. Bodies are cut at
a million characters. Parsing is CPU work (large HTML takes a while): async callers should run it
in a worker thread.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from datetime import datetime
from email import policy
from email.header import decode_header, make_header
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.utils import getaddresses, parsedate_to_datetime

from channels.email._html import html_to_text
from channels.email._quotes import latest_reply
from channels.email._text import decode_bytes, remove_invisible
from channels.email.errors import EmailTooLarge

DEFAULT_MAX_BYTES = 10_000_000
_MSG_ID = re.compile(r"<[^<>\s]+>")
_MAX_PARTS = 200
_MAX_BODY_CHARS = 1_000_000  # a body beyond this is cut before conversion: no human writes more
_SPACES = str.maketrans({"\xa0": " ", "\u202f": " ", "\u2007": " "})


class AutoKind(enum.Enum):
    """Why a message was sent by a machine. Such mail is never an answer and is never answered."""

    BOUNCE = "bounce"  # multipart/report delivery-status, or a delivery-status part
    REPORT = "report"  # other multipart/report: read receipts, abuse feedback
    NULL_SENDER = "null_sender"  # Return-Path: <>
    MAILER_DAEMON = "mailer_daemon"  # From mailer-daemon@ / postmaster@
    AUTO_SUBMITTED = "auto_submitted"  # Auto-Submitted other than "no" (RFC 3834)
    AUTO_REPLY = "auto_reply"  # X-Autoreply, X-Autorespond and friends
    BULK = "bulk"  # Precedence: bulk / list / junk / auto_reply
    MAILING_LIST = "mailing_list"  # any List-* header (RFC 2369 / 2919)


@dataclass(frozen=True)
class InboundEmail:
    message_id: str | None  # "<id@host>", angle brackets kept
    in_reply_to: str | None
    references: list[str]
    from_addr: str  # bare address, lowercased; "" when absent or unparsable
    from_name: str
    to: list[str]
    cc: list[str]
    reply_to: list[str]
    subject: str
    date: datetime | None
    text: str  # the body as text (text/plain preferred, else rendered HTML), invisibles removed
    reply_text: str  # only the new part: quotes, reply headers and signature removed
    attachments: list[tuple[str, int]] = field(default_factory=list)  # (filename, decoded size)
    auto: AutoKind | None = None
    authentication_results: list[str] = field(default_factory=list)  # raw, unfolded, top first
    delivered_to: list[str] = field(default_factory=list)  # Delivered-To / X-Original-To: the envelope

    @property
    def is_automated(self) -> bool:
        return self.auto is not None


def parse_email(raw: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES) -> InboundEmail:
    """Parse one RFC 5322 message. Raises `EmailTooLarge` when `raw` is over `max_bytes`."""
    if len(raw) > max_bytes:
        raise EmailTooLarge(len(raw), max_bytes)
    msg = BytesParser(policy=policy.default).parsebytes(raw)
    from_name, from_addr = _first_address(msg, "From")
    body_part, text = _body_text(msg)
    text = remove_invisible(text).translate(_SPACES).strip()
    return InboundEmail(
        message_id=_first_msg_id(_header(msg, "Message-ID")),
        in_reply_to=_first_msg_id(_header(msg, "In-Reply-To")),
        references=_MSG_ID.findall(_header(msg, "References")),
        from_addr=from_addr,
        from_name=remove_invisible(from_name).strip(),
        to=_addresses(msg, "To"),
        cc=_addresses(msg, "Cc"),
        reply_to=_addresses(msg, "Reply-To"),
        subject=remove_invisible(_header(msg, "Subject")).strip(),
        date=_date(_header(msg, "Date")),
        text=text,
        reply_text=latest_reply(text),
        attachments=_attachments(msg, body_part),
        auto=_auto_kind(msg, from_addr),
        authentication_results=_headers(msg, "Authentication-Results"),
        delivered_to=_envelope_recipients(msg),
    )


def parse_headers(raw: bytes, *, limit: int = 256_000) -> InboundEmail:
    """Only the header section (of at most `limit` bytes), for a message too large to parse.

    The body, text and attachments are empty; addresses, threading headers and `auto` are read
    as `parse_email` reads them (a report's content type is in the header).
    """
    head = raw[:limit]
    end = re.search(rb"\r?\n\r?\n", head)
    head = head[: end.end()] if end else head
    msg = BytesParser(policy=policy.default).parsebytes(head, headersonly=True)
    from_name, from_addr = _first_address(msg, "From")
    return InboundEmail(
        message_id=_first_msg_id(_header(msg, "Message-ID")),
        in_reply_to=_first_msg_id(_header(msg, "In-Reply-To")),
        references=_MSG_ID.findall(_header(msg, "References")),
        from_addr=from_addr,
        from_name=remove_invisible(from_name).strip(),
        to=_addresses(msg, "To"),
        cc=_addresses(msg, "Cc"),
        reply_to=_addresses(msg, "Reply-To"),
        subject=remove_invisible(_header(msg, "Subject")).strip(),
        date=_date(_header(msg, "Date")),
        text="",
        reply_text="",
        auto=_auto_kind(msg, from_addr),
        authentication_results=_headers(msg, "Authentication-Results"),
        delivered_to=_envelope_recipients(msg),
    )


def peek_identity(raw: bytes, *, limit: int = 64_000) -> tuple[str | None, str]:
    """(Message-ID, From address) read cheaply from at most `limit` bytes of the header, for a
    message whose full parse failed: no structured header parsing, values cut at 998 characters."""
    head = raw[:limit]
    end = re.search(rb"\r?\n\r?\n", head)
    head = head[: end.end()] if end else head
    try:
        msg = BytesParser(policy=policy.compat32).parsebytes(head, headersonly=True)
        message_id = _first_msg_id(str(msg.get("Message-ID") or "")[:998])
        from_addr = getaddresses([str(msg.get("From") or "")[:998]])[0][1].strip().lower()
    except Exception:  # noqa: BLE001 - this is the fallback: it must not fail too
        return None, ""
    return message_id, from_addr if from_addr.count("@") == 1 else ""


# -- headers ---------------------------------------------------------------------------------


def _headers(msg: Message, name: str) -> list[str]:
    """All values of a header, decoded (RFC 2047) and unfolded; never raises."""
    values: list[str] = []
    wanted = name.lower()
    for key, raw_value in msg.raw_items():
        if key.lower() != wanted:
            continue
        values.append(_unfold(_decode_header_value(name, raw_value)))
    return values


def _header(msg: Message, name: str) -> str:
    values = _headers(msg, name)
    return values[0] if values else ""


def _decode_header_value(name: str, raw_value: str) -> str:
    try:
        return str(policy.default.header_factory(name, raw_value))
    except Exception:  # noqa: BLE001 - the stdlib header parser has edge cases that raise
        pass
    try:
        return str(make_header(decode_header(raw_value)))
    except Exception:  # noqa: BLE001
        return raw_value


def _unfold(value: str) -> str:
    return re.sub(r"\s*[\r\n]+\s*", " ", value).strip()


def _address_pairs(msg: Message, name: str) -> list[tuple[str, str]]:
    """(display name, lowercased addr-spec) from the first `name` header.

    Addresses come from the structured header, never from re-parsing decoded text, so an
    encoded-word display name cannot smuggle in another address.
    """
    raw_values = [value for key, value in msg.raw_items() if key.lower() == name.lower()]
    if not raw_values:
        return []
    pairs: list[tuple[str, str]] = []
    try:
        header = policy.default.header_factory(name, raw_values[0])
        for address in getattr(header, "addresses", ()):
            pairs.append((str(address.display_name or ""), str(address.addr_spec or "")))
    except Exception:  # noqa: BLE001 - fall back to the raw, undecoded value
        try:
            pairs = getaddresses([_unfold(raw_values[0])])
        except Exception:  # noqa: BLE001
            pairs = []
    result = []
    for display, addr in pairs:
        addr = addr.strip().lower()
        if (
            addr.count("@") == 1
            and all(part for part in addr.split("@"))
            and not any(ch.isspace() or ch in "<>,;" for ch in addr)
        ):
            result.append((display, addr))
    return result


def _envelope_recipients(msg: Message) -> list[str]:
    """Addresses the receiving server wrote down (a plus-address survives here when To is a list)."""
    found: list[str] = []
    for name in ("Delivered-To", "X-Original-To", "Envelope-To"):
        for value in _headers(msg, name):
            _, addr = getaddresses([value])[0] if value else ("", "")
            addr = addr.strip().lower()
            if addr.count("@") == 1 and not any(ch.isspace() or ch in "<>,;" for ch in addr):
                found.append(addr)
    return list(dict.fromkeys(found))


def _first_address(msg: Message, name: str) -> tuple[str, str]:
    pairs = _address_pairs(msg, name)
    return pairs[0] if pairs else ("", "")


def _addresses(msg: Message, name: str) -> list[str]:
    return [addr for _, addr in _address_pairs(msg, name)]


def _first_msg_id(value: str) -> str | None:
    found = _MSG_ID.search(value)
    if found:
        return found.group(0)
    value = value.strip()
    return f"<{value}>" if value and not any(c.isspace() or c in "<>" for c in value) else None


def _date(value: str) -> datetime | None:
    if not value:
        return None
    try:
        return parsedate_to_datetime(value)
    except Exception:  # noqa: BLE001
        return None


# -- body ------------------------------------------------------------------------------------


def _leaf_parts(msg: Message) -> list[Message]:
    """Non-multipart parts in order, not descending into attached messages; bounded."""
    parts: list[Message] = []
    stack: list[Message] = [msg]
    while stack and len(parts) < _MAX_PARTS:
        part = stack.pop()
        if part.get_content_maintype() == "multipart":
            payload = part.get_payload()
            if isinstance(payload, list):
                stack.extend(reversed([sub for sub in payload if isinstance(sub, Message)]))
            continue
        parts.append(part)
    return parts


def _is_attachment(part: Message) -> bool:
    try:
        disposition = (part.get_content_disposition() or "").lower()
        filename = part.get_filename()
    except Exception:  # noqa: BLE001
        return False
    return disposition == "attachment" or bool(filename) or part.get_content_type() == "message/rfc822"


def _body_part(msg: Message) -> Message | None:
    if isinstance(msg, EmailMessage):
        try:
            part = msg.get_body(preferencelist=("plain", "html"))
        except Exception:  # noqa: BLE001
            part = None
        if part is not None and not _part_text(part).strip() and part.get_content_subtype() == "plain":
            # An empty text/plain alternative next to a real HTML one.
            try:
                html = msg.get_body(preferencelist=("html",))
            except Exception:  # noqa: BLE001
                html = None
            part = html or part
        if part is not None:
            return part
    for leaf in _leaf_parts(msg):
        if leaf.get_content_maintype() == "text" and not _is_attachment(leaf):
            return leaf
    return None


def _part_text(part: Message) -> str:
    try:
        payload = part.get_payload(decode=True)
    except Exception:  # noqa: BLE001
        payload = None
    if not isinstance(payload, bytes):
        raw = part.get_payload()
        return raw if isinstance(raw, str) else ""
    try:
        charset = part.get_content_charset()
    except Exception:  # noqa: BLE001
        charset = None
    if charset is None and part.get_content_subtype() == "html":
        meta = re.search(rb"<meta[^>]+charset=[\"']?([A-Za-z0-9_:.-]+)", payload[:4096], re.IGNORECASE)
        if meta:
            charset = meta.group(1).decode("ascii")
    return decode_bytes(payload, charset)


def _body_text(msg: Message) -> tuple[Message | None, str]:
    part = _body_part(msg)
    if part is None:
        return None, ""
    text = _part_text(part)[:_MAX_BODY_CHARS]
    if part.get_content_subtype() == "html":
        try:
            text = html_to_text(text)
        except Exception:  # noqa: BLE001 - html2text on hostile markup
            text = re.sub(r"<[^>]*>", " ", text)
    return part, text.replace("\r\n", "\n").strip()


def _attachments(msg: Message, body: Message | None) -> list[tuple[str, int]]:
    found: list[tuple[str, int]] = []
    for part in _leaf_parts(msg):
        if part is body or not _is_attachment(part):
            continue
        try:
            name = part.get_filename() or ""
        except Exception:  # noqa: BLE001
            name = ""
        if not name and part.get_content_type() == "message/rfc822":
            name = "message.eml"
        name = remove_invisible(_unfold(name)).strip() or "unnamed"
        found.append((name, _payload_size(part)))
    return found


def _payload_size(part: Message) -> int:
    try:
        payload = part.get_payload(decode=True)
    except Exception:  # noqa: BLE001
        payload = None
    if isinstance(payload, bytes):
        return len(payload)
    try:
        return len(part.as_bytes())
    except Exception:  # noqa: BLE001
        return 0


# -- automation ------------------------------------------------------------------------------

_AUTOREPLY_HEADERS = ("x-autoreply", "x-autorespond", "x-autoresponder", "x-autoreply-from", "x-mail-autoreply")
_BULK_PRECEDENCE = {"bulk", "list", "junk", "auto_reply"}
_DAEMONS = {"mailer-daemon", "postmaster"}


def _auto_kind(msg: Message, from_addr: str) -> AutoKind | None:
    content_type = msg.get_content_type()
    if content_type == "multipart/report":
        report_type = str(msg.get_param("report-type", "") or "").lower()
        return AutoKind.BOUNCE if report_type == "delivery-status" else AutoKind.REPORT
    if any(p.get_content_type() == "message/delivery-status" for p in _leaf_parts(msg)):
        return AutoKind.BOUNCE
    return_path = _headers(msg, "Return-Path")
    if return_path and return_path[0].replace(" ", "") in ("<>", ""):
        return AutoKind.NULL_SENDER
    if from_addr.partition("@")[0] in _DAEMONS:
        return AutoKind.MAILER_DAEMON
    auto_submitted = _header(msg, "Auto-Submitted").split(";")[0].strip().lower()
    if auto_submitted and auto_submitted != "no":
        return AutoKind.AUTO_SUBMITTED
    names = {key.lower() for key in msg.keys()}
    if any(name in names for name in _AUTOREPLY_HEADERS):
        return AutoKind.AUTO_REPLY
    if any(name.startswith("list-") for name in names):
        return AutoKind.MAILING_LIST
    if _header(msg, "Precedence").strip().lower() in _BULK_PRECEDENCE:
        return AutoKind.BULK
    return None
