"""Is the From address genuine? Read our mail server's verdict, or check DKIM ourselves.

`sender_authenticated` reads `Authentication-Results` headers (RFC 8601). Anyone can write such a
header into a message, so only those whose authserv-id is our own receiving server's count; that
server must remove incoming headers that carry its id (RFC 8601 section 5; Postfix with OpenDKIM /
OpenDMARC, Rspamd and the big providers do). A sender passes with `dmarc=pass` for the From domain,
or `dkim=pass` whose signing domain (`header.d`) is the From domain or a parent of it.

`dkim_verify` checks DKIM signatures with dkimpy; `dnsfunc` replaces DNS (tests, caching).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import dkim

logger = logging.getLogger(__name__)

DnsFunc = Callable[..., bytes | None]


@dataclass(frozen=True)
class AuthResult:
    """One `method=result` statement with its properties (`header.d`, `smtp.mailfrom`, ...)."""

    method: str
    result: str
    properties: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class AuthenticationResults:
    authserv_id: str
    results: list[AuthResult]


def parse_authentication_results(value: str) -> AuthenticationResults | None:
    """Parse one header value; None when it is not even `authserv-id; ...`."""
    segments = _split_semicolons(_strip_comments(value))
    if not segments:
        return None
    head = segments[0].split()
    if not head:
        return None
    results = []
    for segment in segments[1:]:
        tokens = _tokens(segment)
        if not tokens or "=" not in tokens[0]:
            continue  # "none", or garbage
        method, _, result = tokens[0].partition("=")
        properties: dict[str, str] = {}
        for token in tokens[1:]:
            key, eq, prop = token.partition("=")
            if eq:
                properties.setdefault(key.lower(), prop.strip('"'))
        results.append(AuthResult(method.split("/")[0].lower(), result.lower(), properties))
    return AuthenticationResults(head[0].lower(), results)


def sender_authenticated(msg_headers: Iterable[str], trusted_authserv_id: str, from_domain: str) -> bool:
    """True when our server says the From domain is authentic (DMARC pass, or aligned DKIM pass).

    `msg_headers` are the message's raw `Authentication-Results` values
    (`InboundEmail.authentication_results`).
    """
    trusted = trusted_authserv_id.strip().lower()
    domain = from_domain.strip().lower().rstrip(".")
    if not trusted or not domain:
        return False
    for value in msg_headers:
        parsed = parse_authentication_results(value)
        if parsed is None or parsed.authserv_id != trusted:
            continue
        for result in parsed.results:
            if result.result != "pass":
                continue
            if result.method == "dmarc":
                header_from = result.properties.get("header.from", "").lower().rstrip(".")
                if not header_from or header_from == domain:
                    return True
            elif result.method == "dkim":
                signer = result.properties.get("header.d") or result.properties.get("header.i", "")
                if _aligned(signer.rpartition("@")[2], domain):
                    return True
    return False


def dkim_verify(raw: bytes, *, from_domain: str | None = None, dnsfunc: DnsFunc | None = None) -> bool:
    """True when a DKIM signature verifies (and, with `from_domain`, its d= is aligned to it)."""
    try:
        verifier = dkim.DKIM(raw, logger=logger)
        signatures = [index for index, (name, _) in enumerate(verifier.headers) if name.lower() == b"dkim-signature"]
        for index in range(len(signatures)):
            kwargs = {"dnsfunc": dnsfunc} if dnsfunc is not None else {}
            if not verifier.verify(idx=index, **kwargs):
                continue
            signer = (verifier.domain or b"").decode("ascii", "replace")
            if from_domain is None or _aligned(signer, from_domain.lower()):
                return True
    except Exception as error:  # noqa: BLE001 - dkimpy raises many kinds on hostile input
        logger.info("DKIM verification failed: %s", error)
    return False


def _aligned(signer: str, from_domain: str) -> bool:
    """Relaxed alignment without a public-suffix list: same domain, or a parent of it.

    A parent is safe: a signature for `d=example.com` needs a key in example.com's DNS. A child
    (`d=tenant.example.com` for From `example.com`) is not accepted.
    """
    signer = signer.strip().lower().rstrip(".")
    if not signer or "." not in signer:
        return False
    return from_domain == signer or from_domain.endswith("." + signer)


def _strip_comments(value: str) -> str:
    out: list[str] = []
    depth = 0
    quoted = False
    escaped = False
    for ch in value:
        if escaped:
            escaped = False
            if depth == 0:
                out.append(ch)
            continue
        if ch == "\\":
            escaped = True
            if depth == 0:
                out.append(ch)
            continue
        if quoted:
            out.append(ch)
            if ch == '"':
                quoted = False
            continue
        if ch == "(":
            depth += 1
            continue
        if ch == ")" and depth:
            depth -= 1
            out.append(" ")
            continue
        if depth:
            continue
        if ch == '"':
            quoted = True
        out.append(ch)
    return "".join(out)


def _split_semicolons(value: str) -> list[str]:
    parts = [part.strip() for part in re.split(r';(?=(?:[^"]*"[^"]*")*[^"]*$)', value)]
    return [part for part in parts if part] if parts and parts[0] else []


def _tokens(segment: str) -> list[str]:
    # "key = value" spacing is legal; glue it before splitting on whitespace.
    segment = re.sub(r"\s*=\s*", "=", segment)
    return re.findall(r'[^\s"]+(?:"[^"]*")?[^\s"]*|"[^"]*"', segment)
