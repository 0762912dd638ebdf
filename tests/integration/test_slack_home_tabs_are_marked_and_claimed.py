"""The Home tabs' queue on SQLite and PostgreSQL: a request change marks the tabs of the people it
concerns (by Slack id, through the people directory, everyone for a user group), in its own
transaction; a tab is due again no sooner than the gap after its last publish; one publisher holds
a tab at a time; a change made while a tab was being built leaves it due."""

from __future__ import annotations

from datetime import timedelta

from agent.events import ApprovalDecided, ApprovalRequested, HumanMessage
from agent.thread import arguments_digest
from storage.store import Store

ARGS = {"name": "web"}


def _request(store: Store, request_id: str, approvers: list[str], by: str = "U0BOB") -> str:
    thread = store.create_thread(agent="ops", first=HumanMessage(text="restart web", by=by), requested_by=by)
    assert thread is not None
    digest = arguments_digest("restart_service", ARGS)
    approval = ApprovalRequested(
        request_id=request_id,
        call_id=f"c-{request_id}",
        tool="restart_service",
        arguments=ARGS,
        digest=digest,
        approvers=approvers,
    )
    store.append(thread.id, [approval])
    return thread.id


def _published(store: Store, *users: str) -> None:
    """Each user opened their tab and it was published: nothing due."""
    for user in users:
        store.home_opened(user, "T1")
        version = store.claim_home_tab(user, timedelta(seconds=60))
        assert version is not None
        store.home_tab_published(user, version, "d", sent=True)
    assert [r.user for r in store.due_home_tabs(gap=timedelta(0))] == []


def _due(store: Store) -> set[str]:
    return {r.user for r in store.due_home_tabs(gap=timedelta(0))}


def test_a_request_marks_its_approvers_and_its_requester(store: Store) -> None:
    store.add_person("alice", slack_ids=["U0ALICE"], emails=["alice@example.com"])
    _published(store, "U0ALICE", "U0BOB", "U0CAROL", "U0MALLORY")
    _request(store, "r1", ["alice@example.com", "U0CAROL"])  # alice through the directory
    assert _due(store) == {"U0ALICE", "U0BOB", "U0CAROL"}


def test_a_group_or_nobody_named_marks_everyone(store: Store) -> None:
    _published(store, "U0ALICE", "U0MALLORY")
    _request(store, "r1", ["S0OPS"])
    assert _due(store) == {"U0ALICE", "U0MALLORY"}


def test_a_decision_marks_them_again_and_the_gap_holds_them_back(store: Store) -> None:
    _published(store, "U0CAROL")
    _request(store, "r1", ["U0CAROL"])
    version = store.claim_home_tab("U0CAROL", timedelta(seconds=60))
    assert version is not None
    assert store.claim_home_tab("U0CAROL", timedelta(seconds=60)) is None  # one publisher at a time
    store.home_tab_published("U0CAROL", version, "d2", sent=True)
    store.resolve("r1", ApprovalDecided(request_id="r1", approved=True, by="U0CAROL"))
    assert store.home_tab("U0CAROL").due_at is not None  # type: ignore[union-attr]
    assert store.due_home_tabs(gap=timedelta(hours=1)) == []  # published just now: waits for the gap
    assert [r.user for r in store.due_home_tabs(gap=timedelta(0))] == ["U0CAROL"]


def test_a_change_while_building_leaves_the_tab_due(store: Store) -> None:
    _published(store, "U0CAROL")
    _request(store, "r1", ["U0CAROL"])
    version = store.claim_home_tab("U0CAROL", timedelta(seconds=60))
    assert version is not None
    _request(store, "r2", ["U0CAROL"])  # recorded after the build read the database
    store.home_tab_published("U0CAROL", version, "d3", sent=True)
    assert store.home_tab("U0CAROL").due_at is not None  # type: ignore[union-attr]
    version = store.claim_home_tab("U0CAROL", timedelta(seconds=60))
    assert version is not None
    store.home_tab_published("U0CAROL", version, "d4", sent=True)
    assert store.home_tab("U0CAROL").due_at is None  # type: ignore[union-attr]


def test_the_facts_list_pending_requests_oldest_first_and_open_threads(store: Store) -> None:
    _request(store, "r1", ["U0CAROL"])
    _request(store, "r2", ["U0ALICE"], by="U0CAROL")
    facts = store.home_facts(["U0CAROL"])
    assert [r.id for r, _ in facts.pending] == ["r1", "r2"] and facts.pending_total == 2
    assert facts.own_total == 1 and facts.own_threads[0].requested_by == "U0CAROL"
