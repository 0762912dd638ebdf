"""Security 22.6 (small leaks): what a caller without the token learns from a real `signoff serve`.

The API's schema is behind the bearer token, and there is no docs page (FastAPI's loads its
scripts from a CDN). /healthz says that the database is unavailable, never what the driver said
(host, port, database name, user): that detail goes to the server's log, once per outage.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.databases import postgres_database, set_reachable
from tests.support.fake_model import FakeModelServer
from tests.support.signoff_process import API_TOKEN, SignoffProcess, wait_until


def test_no_docs_page_and_the_schema_needs_the_token(signoff: SignoffProcess) -> None:
    with httpx.Client(base_url=signoff.url, timeout=10) as anonymous:
        for page in ("/docs", "/docs/oauth2-redirect", "/redoc"):
            response = anonymous.get(page)
            assert response.status_code == 404, f"{page}: {response.status_code}"
            assert "cdn" not in response.text.lower()
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": API_TOKEN}):
            refused = anonymous.get("/openapi.json", headers=headers)
            assert refused.status_code == 401, f"{headers}: {refused.status_code}"
            assert "paths" not in refused.text

    with signoff.client() as api:
        schema = api.get("/openapi.json")
        assert schema.status_code == 200
        assert {"/api/threads", "/api/requests/{request_id}/decision"} <= set(schema.json()["paths"])


@pytest.fixture
def pg_signoff(postgres_url: str, model: FakeModelServer, tmp_path: Path) -> Iterator[tuple[SignoffProcess, str]]:
    """`signoff serve` on a PostgreSQL database of its own (postgres_url: skips, or fails in CI, without one)."""
    with postgres_database() as url:
        process = SignoffProcess(
            {
                "SIGNOFF_DATABASE_URL": url,
                **model.settings(),
                "SIGNOFF_APPROVERS": "alice@example.com",
            },
            tmp_path,
        )
        process.start()
        try:
            yield process, url
        finally:
            process.stop()


def test_healthz_names_no_database_detail(pg_signoff: tuple[SignoffProcess, str]) -> None:
    process, url = pg_signoff
    database = url.rsplit("/", 1)[1]
    with httpx.Client(base_url=process.url, timeout=30) as anonymous:
        set_reachable(url, False)
        try:
            answers = [anonymous.get("/healthz") for _ in range(3)]
        finally:
            set_reachable(url, True)
        for answer in answers:
            assert answer.status_code == 503
            assert answer.json() == {"status": "unhealthy", "database": "unavailable"}
            for detail in (database, "127.0.0.1", "5432", "postgres", "FATAL", "connection"):
                assert detail not in answer.text
        wait_until(lambda: anonymous.get("/healthz").status_code == 200, message="healthy again")

    logs = process.logs()
    # The operator finds the driver's words in the log: once when it started, once when it ended.
    outage = [line for line in logs.splitlines() if "/healthz" in line and "unavailable" in line]
    assert len(outage) == 1 and database in outage[0], outage
    assert any("/healthz" in line and "available again" in line for line in logs.splitlines())
