"""Signing in to the web inbox over plain HTTP against a real `signoff serve` with no mail server:
every page but sign-in needs a session; asking for a link gets the same answer whether the address
may sign in or not; asks are rate limited; forms without their CSRF token are refused; the link
(printed in the server's output when no SMTP is configured) signs in once."""

from __future__ import annotations

import re

import httpx

from tests.support.signoff_process import SignoffProcess, wait_until

PAGES = ["/", "/requests", "/threads", "/try", "/threads/abc", "/threads/abc/state"]


def _csrf(page: httpx.Response) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found, page.text
    return found.group(1)


def _ask(client: httpx.Client, csrf: str, address: str) -> httpx.Response:
    return client.post("/signin/link", data={"csrf": csrf, "address": address, "next": "/threads"})


def test_sign_in_pages_answer_alike_limit_asks_and_sign_in_once(signoff: SignoffProcess) -> None:
    with httpx.Client(base_url=signoff.url, timeout=10) as client:
        for path in PAGES:
            response = client.get(path)
            assert response.status_code == 303 and response.headers["location"].startswith("/signin?next="), path

        page = client.get("/signin")
        assert page.status_code == 200 and "script-src 'self'" in page.headers["content-security-policy"]
        cookie = page.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=lax" in cookie and "secure" not in cookie  # plain HTTP here
        csrf = _csrf(page)

        assert client.post("/signin/link", data={"address": "alice@example.com"}).status_code == 403

        known = _ask(client, csrf, "alice@example.com")
        unknown = _ask(client, csrf, "mallory@example.com")
        assert known.status_code == unknown.status_code == 200
        assert known.text.replace("alice@", "X@") == unknown.text.replace("mallory@", "X@")
        logged = wait_until(
            lambda: re.findall(r"http://127\.0\.0\.1:\d+/signin/link\?token=\S+", signoff.logs()), message="the link"
        )
        assert len(logged) == 1 and "mallory" not in signoff.logs().split("sign-in link for")[-1].split("\n")[0]

        for _ in range(4):  # SIGNOFF_WEB_SIGNIN_RATE_LIMIT: 5 an hour, for unknown addresses too
            assert _ask(client, csrf, "mallory@example.com").status_code == 200
        assert _ask(client, csrf, "mallory@example.com").status_code == 429

        opened = client.get(logged[0])
        assert opened.status_code == 200 and "alice@example.com" in opened.text
        token = re.search(r'name="token" value="([^"]+)"', opened.text)
        assert token
        assert client.post("/signin/link/use", data={"token": token.group(1)}).status_code == 403  # no CSRF token
        used = client.post("/signin/link/use", data={"csrf": _csrf(opened), "token": token.group(1), "next": "/threads"})
        assert used.status_code == 303 and used.headers["location"] == "/threads"
        assert "Waiting on me" in client.get("/").text
        assert client.get("/threads/abc/state").status_code == 404

        with httpx.Client(base_url=signoff.url, timeout=10) as other:
            again = other.get(logged[0])
            assert again.status_code == 410 and "expired or was already used" in again.text
