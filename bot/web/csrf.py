"""CSRF protection for every form of the web inbox: a token tied to the session, checked on every POST.

Each form carries the session's `csrf` token in a hidden field; the cookie that holds the token is
signed and HttpOnly, so a page on another site can neither read it nor forge it (the synchronizer
token pattern, with the token kept in the signed cookie rather than on the server). On top of that,
a POST a browser marks as cross-site (`Sec-Fetch-Site: cross-site`), or whose `Origin` is not this
server, is refused before its token is looked at. Refusals are 403.

Forms are `application/x-www-form-urlencoded`, read here with the app's body cap
(SIGNOFF_MAX_BODY_BYTES) and at most `MAX_FIELDS` fields.
"""

from __future__ import annotations

import hmac
from urllib.parse import parse_qsl, urlsplit

from starlette.requests import Request

from bot.web.sessions import Session

FIELD = "csrf"
MAX_FIELDS = 120  # a decision with an edit form: one field per argument


class CsrfRefused(Exception):
    """A form POST without the session's token, or from another site."""


class BadForm(Exception):
    """A POST that is not a form this server could have served."""


async def read_form(request: Request, session: Session | None, *, public_origin: str | None = None) -> dict[str, str]:
    """The POSTed form's fields, once its origin and CSRF token are checked. `public_origin` is the
    inbox's own origin as people open it (SIGNOFF_WEB_URL), for a proxy that rewrites Host."""
    if request.headers.get("sec-fetch-site", "") == "cross-site":
        raise CsrfRefused("a cross-site form post")
    origin = request.headers.get("origin")
    if origin is not None and origin != "null" and origin != public_origin and not _same_origin(origin, request):
        raise CsrfRefused("a form post from another origin")
    if origin == "null":
        raise CsrfRefused("a form post from an opaque origin")
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        raise BadForm("expected a form (application/x-www-form-urlencoded)")
    body = await request.body()
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False, max_num_fields=MAX_FIELDS)
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadForm("the form could not be read") from exc
    fields: dict[str, str] = {}
    for name, value in pairs:
        fields.setdefault(name, value)  # the first of a repeated field wins
    given = fields.pop(FIELD, "")
    if session is None or not given or not hmac.compare_digest(given.encode(), session.csrf.encode()):
        raise CsrfRefused("the form's CSRF token is missing or wrong")
    return fields


def _same_origin(origin: str, request: Request) -> bool:
    parts = urlsplit(origin)
    host = request.headers.get("host", "")
    return bool(parts.netloc) and parts.netloc.lower() == host.lower()
