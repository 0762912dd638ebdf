"""Fixtures of the scenarios: `make_slack_bot` starts `signoff serve` in Slack mode; the `fake` Slack,
the scripted `model`, `dovecot`, `smtp` and `make_email_bot` come from tests/conftest.py.

A test file keeps only what is special to it, given to the factory:

    @pytest.fixture
    def bot(make_slack_bot: MakeSlackBot) -> SlackSignoff:
        return make_slack_bot(SLACK_APPROVALS_CHANNEL="C0APPROVALS")
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.fake_model import FakeModelServer, Responder
from tests.support.fake_slack import FakeSlack
from tests.support.slack_signoff import MakeSlackBot, SlackSignoff, slack_signoff


@pytest.fixture
def make_slack_bot(fake: FakeSlack, model: FakeModelServer, tmp_path: Path) -> Iterator[MakeSlackBot]:
    """Starts `signoff serve` in Slack mode (on SQLite, against `fake` and `model`), once per test:
    `make_slack_bot(responder=None, *, approvers=ALICE, http=True, socket_mode=False, **env)`.
    `responder` becomes the model's default answer. At teardown the server stops and the fake must
    have seen no invalid call."""
    with contextlib.ExitStack() as running:

        def start(responder: Responder | None = None, **options: Any) -> SlackSignoff:
            if responder is not None:
                model.default = responder
            return running.enter_context(slack_signoff(fake, model, tmp_path, **options))

        yield start
    assert fake.errors == []
