"""Signing in to the web inbox over plain HTTP against a real `signoff serve` with no mail server:
every page but sign-in needs a session; asking for a link gets the same answer whether the address
may sign in or not; asks are rate limited; forms without their CSRF token are refused; the link
(printed in the server's output when no SMTP is configured) signs in once."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from tests.support.fake_model import FakeModelServer
from tests.support.signoff_process import SignoffProcess, wait_until

PAGES = ["/", "/requests", "/threads", "/try", "/threads/abc", "/threads/abc/state", "/live/waiting", "/live/threads/abc"]


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
        used = client.post(
            "/signin/link/use", data={"csrf": _csrf(opened), "token": token.group(1), "next": "/threads"}
        )
        assert used.status_code == 303 and used.headers["location"] == "/threads"
        assert "Waiting on me" in client.get("/").text
        assert client.get("/threads/abc/state").status_code == 404

        with httpx.Client(base_url=signoff.url, timeout=10) as other:
            again = other.get(logged[0])
            assert again.status_code == 410 and "expired or was already used" in again.text


def test_the_cookie_is_secure_behind_tls_as_a_trusted_proxy_says(model: FakeModelServer, tmp_path: Path) -> None:
    process = SignoffProcess(
        {
            "SIGNOFF_DATABASE_URL": f"sqlite:///{tmp_path / 'signoff.db'}",
            **model.settings(),
            "SIGNOFF_APPROVERS": "alice@example.com",
            "SIGNOFF_TRUSTED_PROXIES": "127.0.0.1",
        },
        tmp_path,
    ).start()
    try:
        behind_tls = httpx.get(f"{process.url}/signin", headers={"X-Forwarded-Proto": "https"})
        plain = httpx.get(f"{process.url}/signin")
        assert "; secure" in behind_tls.headers["set-cookie"].lower()
        assert "secure" not in plain.headers["set-cookie"].lower()
    finally:
        process.stop()


def test_an_untrusted_client_cannot_claim_tls_and_a_https_web_url_always_is(
    model: FakeModelServer, tmp_path: Path
) -> None:
    process = SignoffProcess(
        {
            "SIGNOFF_DATABASE_URL": f"sqlite:///{tmp_path / 'signoff.db'}",
            **model.settings(),
            "SIGNOFF_APPROVERS": "alice@example.com",
        },
        tmp_path,
    ).start()
    try:
        claimed = httpx.get(f"{process.url}/signin", headers={"X-Forwarded-Proto": "https"})
        assert "secure" not in claimed.headers["set-cookie"].lower()
    finally:
        process.stop()
    process.env["SIGNOFF_WEB_URL"] = "https://signoff.example.com"
    process.start()
    try:
        assert "; secure" in httpx.get(f"{process.url}/signin").headers["set-cookie"].lower()
    finally:
        process.stop()
