"""Standing grants in the pure core: what a tool may declare, the terms a grant gets (and every
refusal, each saying why), and the gate: a gated call runs on a recorded `grant_used` only when it
is bound to exactly that call and its digest; its request is then closed and no card goes out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from agent import Agent, Grants
from agent.errors import AgentDefinitionError
from agent.events import ApprovalRequested, Event, GrantUsed, HumanMessage
from agent.grants import GrantRefused, grant_terms
from agent.reducer import RunTool, is_gated_call_approved, next_step
from agent.thread import arguments_digest, pending_requests, status
from bot.outbox_policy import outbox_for

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
ARGS = {"name": "web"}
DIGEST = arguments_digest("restart", ARGS)
GRANTS = Grants(thread=timedelta(hours=8), duration=timedelta(hours=1), arguments=timedelta(days=7), match=("name",))


def terms(scope: str, until: datetime | None = None, grants: Grants | None = GRANTS, required: int = 1):  # type: ignore[no-untyped-def]
    return grant_terms(
        grants,
        tool="restart",
        scope=scope,
        until=until,
        now=NOW,
        thread_id="t1",
        arguments=ARGS,
        digest=DIGEST,
        required=required,
    )


def test_grants_are_declared_on_gated_tools_only() -> None:
    agent = Agent("ops", approvers=["alice"])

    @agent.tool(grants=Grants(thread=timedelta(hours=1)))
    def plain(name: str) -> str:
        """Not gated."""
        return name

    @agent.tool(needs_approval=True, grants=Grants(duration=timedelta(0), match=("nope",)))
    def gated(name: str) -> str:
        """Gated."""
        return name

    with pytest.raises(AgentDefinitionError) as raised:
        agent.check()
    problems = "\n".join(raised.value.problems)
    assert "grants apply to a gated tool only" in problems
    assert "duration must be a positive timedelta" in problems and "match names 'nope'" in problems


def test_the_terms_of_each_scope() -> None:
    thread = terms("thread")
    assert (thread.thread_id, thread.digest, thread.match, thread.until) == ("t1", None, ARGS, NOW + timedelta(hours=8))
    exact = terms("arguments", until=NOW + timedelta(days=2))
    assert (exact.thread_id, exact.digest, exact.match) == (None, DIGEST, {})
    hour = terms("duration", until=NOW + timedelta(minutes=30))
    assert (hour.thread_id, hour.until) == (None, NOW + timedelta(minutes=30))


@pytest.mark.parametrize(
    ("scope", "until", "grants", "required", "why"),
    [
        ("thread", None, None, 1, "allows no standing grant"),
        ("thread", None, Grants(), 1, "allows no standing grant"),
        ("duration", None, Grants(thread=timedelta(hours=1)), 1, "does not allow a grant for any thread"),
        ("everything", None, GRANTS, 1, "unknown grant scope"),
        ("duration", NOW + timedelta(hours=2), GRANTS, 1, "at most 1 hour"),
        ("duration", NOW - timedelta(seconds=1), GRANTS, 1, "not in the future"),
        ("duration", datetime(2026, 12, 7, 12, 30), GRANTS, 1, "time zone"),
        ("thread", None, GRANTS, 2, "needs 2 approvers"),
    ],
)
def test_grants_beyond_what_the_tool_allows_are_refused(
    scope: str, until: datetime | None, grants: Grants | None, required: int, why: str
) -> None:
    with pytest.raises(GrantRefused, match=why):
        terms(scope, until, grants, required)


def _gated() -> list[Event]:
    return [
        HumanMessage(text="restart web", by="bob"),
        ApprovalRequested(
            request_id="r1", call_id="c1", tool="restart", arguments=ARGS, digest=DIGEST, approvers=["alice"]
        ),
    ]


def _agent() -> Agent:
    agent = Agent("ops", approvers=["alice"])

    @agent.tool(needs_approval=True, grants=GRANTS)
    def restart(name: str) -> str:
        """Restart."""
        return name

    return agent


def test_a_recorded_grant_use_runs_exactly_its_call() -> None:
    used = GrantUsed(request_id="r1", call_id="c1", grant_id="g1", by="alice", until="later", digest=DIGEST)
    events = [*_gated(), used]
    assert pending_requests(events) == [] and status(events) == "running"
    step = next_step(_agent(), events, lambda: "x")
    assert step == RunTool("c1", "restart", ARGS, approved_by="alice", attempt=1)
    assert is_gated_call_approved(events, step)
    assert not is_gated_call_approved(events, RunTool("c1", "restart", {"name": "db"}))

    wrong_digest = [*_gated(), used.model_copy(update={"digest": "0" * 64})]
    assert not is_gated_call_approved(wrong_digest, RunTool("c1", "restart", ARGS))
    other_call = [*_gated(), used.model_copy(update={"call_id": "c2"})]
    assert not is_gated_call_approved(other_call, RunTool("c1", "restart", ARGS))


def test_a_request_a_grant_decided_posts_no_card() -> None:
    used = GrantUsed(request_id="r1", call_id="c1", grant_id="g1", by="alice", until="later", digest=DIGEST)
    assert [d.kind for d in outbox_for("slack", _gated()[1:])] == ["approval_request"]
    assert outbox_for("slack", [*_gated()[1:], used]) == []
