"""HumanLayer's `response_options` on a contact request: each needs a name, two may not read the
same, they are shown by their title, and the option an answer picked comes back by its name."""

from __future__ import annotations

import pytest
from fastapi import HTTPException

from bot.humanlayer_api import response_options
from bot.humanlayer_views import human_contact_json
from storage.models import RequestRow, StandaloneRow, utcnow

OPTIONS = [{"name": "approve_eu", "title": "Deploy to eu"}, {"name": "us"}]


def test_options_are_shown_by_title_and_checked() -> None:
    assert response_options(OPTIONS) == ["Deploy to eu", "us"]
    for bad in ([{"title": "no name"}], [{"name": "a"}, {"name": "b", "title": "A"}], [{"name": " "}]):
        with pytest.raises(HTTPException) as refused:
            response_options(bad)
        assert refused.value.status_code == 422


def test_the_picked_option_comes_back_by_its_name() -> None:
    now = utcnow()
    standalone = StandaloneRow(
        request_id="r1",
        thread_id="t1",
        creator="service",
        external={"run_id": "run", "call_id": "c1", "spec": {"msg": "where?", "response_options": OPTIONS}},
        created_at=now,
    )

    def answered(answer: str) -> RequestRow:
        return RequestRow(
            id="r1",
            thread_id="t1",
            kind="question",
            status="answered",
            comment=answer,
            options=["Deploy to eu", "us"],
            created_at=now,
            decided_at=now,
        )

    assert human_contact_json(standalone, answered("Deploy to eu"))["status"]["response_option_name"] == "approve_eu"
    assert human_contact_json(standalone, answered("somewhere else"))["status"]["response_option_name"] is None
