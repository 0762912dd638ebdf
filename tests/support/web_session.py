"""A web inbox session without a browser (the pages work without JavaScript): signed in with a
personal token on the sign-in page's form, as a person would."""

from __future__ import annotations

import re

import httpx

from tests.support.signoff_process import SignoffProcess

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def signed_in(server: SignoffProcess, token: str) -> httpx.Client:
    """A client whose cookie is a web session started with `token` on the sign-in page's form."""
    client = httpx.Client(base_url=server.url, timeout=30)
    page = client.get("/signin")
    csrf = CSRF.search(page.text)
    assert csrf, page.text
    started = client.post("/signin/token", data={"csrf": csrf.group(1), "token": token, "next": "/"})
    assert started.status_code == 303 and started.headers["location"] == "/", started.text
    return client
