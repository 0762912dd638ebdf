"""The web inbox's storage, on SQLite and PostgreSQL: sign-in links work once and only in time,
asks are limited per address and per client whether the address is known or not, sessions end at
sign-out, the lists filter and page, and what live pages follow changes with what they show."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from agent.events import ApprovalDecided, ApprovalRequested, HumanMessage, RequestReminded
from agent.thread import arguments_digest
from storage.inbox import ListFilter
from storage.store import Store
from storage.web_signins import SigninLimits

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
TTL = timedelta(minutes=15)
NO_LIMITS = SigninLimits(per_address=0, per_ip=0)


def _ask(store: Store, token: str | None, *, address: str = "alice@example.com", ip: str = "10.0.0.1",
         now: datetime = NOW, limits: SigninLimits = NO_LIMITS) -> bool:  # fmt: skip
    return store.signin_asked(address=address, ip=ip, token=token, now=now, ttl=TTL, limits=limits)


def test_a_link_signs_in_once_and_only_before_it_expires(store: Store) -> None:
    assert _ask(store, "token-1") and _ask(store, "token-2")
    assert store.signin_link_address("token-1", now=NOW) == "alice@example.com"
    row = store.signin_use_link("token-1", now=NOW + timedelta(minutes=1))
    assert row is not None and row.address == "alice@example.com" and row.how == "link"
    assert store.signin_use_link("token-1", now=NOW + timedelta(minutes=2)) is None  # used
    assert store.signin_link_address("token-1", now=NOW) is None
    assert store.signin_use_link("token-2", now=NOW + TTL) is None  # expired
    assert store.signin_use_link("no-such-token", now=NOW) is None

    assert store.signin_session(row.id, not_before=NOW) is not None
    assert store.signin_session(row.id, not_before=NOW + timedelta(minutes=5)) is None  # too old
    store.signin_end(row.id, now=NOW + timedelta(minutes=3))
    assert store.signin_session(row.id, not_before=NOW) is None


def test_asks_are_limited_per_address_and_per_client_known_or_not(store: Store) -> None:
    limits = SigninLimits(per_address=2, per_ip=3)
    # An unknown address (no token, nothing mailed) counts exactly as a known one.
    assert _ask(store, None, address="nobody@example.com", limits=limits)
    assert _ask(store, None, address="nobody@example.com", limits=limits)
    assert not _ask(store, None, address="nobody@example.com", limits=limits)
    assert not _ask(store, "t", address="nobody@example.com", ip="10.0.0.9", limits=limits)
    # The client has asked twice; one more from it, for anyone, and it is over its limit.
    assert _ask(store, "t1", address="alice@example.com", limits=limits)
    assert not _ask(store, "t2", address="bob@example.com", limits=limits)
    assert _ask(store, "t3", address="bob@example.com", ip="10.0.0.2", limits=limits)
    # An hour later both limits have room again.
    later = NOW + timedelta(hours=1, seconds=1)
    assert _ask(store, "t4", address="nobody@example.com", now=later, limits=limits)


def _request(store: Store, *, by: str, tool: str, request_id: str) -> str:
    thread = store.create_thread(agent="ops", first=HumanMessage(text="do it", by=by), requested_by=by)
    assert thread is not None
    arguments = {"name": request_id}
    store.append(
        thread.id,
        [
            ApprovalRequested(
                request_id=request_id,
                call_id=f"c-{request_id}",
                tool=tool,
                arguments=arguments,
                digest=arguments_digest(tool, arguments),
                approvers=["alice@example.com"],
            )
        ],
    )
    return thread.id


def test_lists_filter_by_person_tool_status_and_age_and_page(store: Store) -> None:
    for i in range(5):
        _request(store, by="bob@example.com", tool="restart_service", request_id=f"r{i}")
    other = _request(store, by="carol@example.com", tool="deploy", request_id="d1")
    now = datetime.now(UTC)

    everything = store.search_requests(ListFilter(now=now))
    assert everything.total == 6 and [r.id for r, _ in everything.rows][0] == "d1"  # newest first
    oldest = store.search_requests(ListFilter(now=now), oldest_first=True, limit=2, offset=2)
    assert [r.id for r, _ in oldest.rows] == ["r2", "r3"] and oldest.total == 6

    carol = store.search_requests(ListFilter(now=now, person="carol@example.com"))
    assert [(r.id, t.id) for r, t in carol.rows] == [("d1", other)]
    assert store.search_requests(ListFilter(now=now, tool="deploy", status="pending")).total == 1
    assert store.search_requests(ListFilter(now=now, status="approved")).total == 0
    assert store.search_requests(ListFilter(now=now, agent="ops", channel="api")).total == 6
    assert store.search_requests(ListFilter(now=now, older_than=timedelta(hours=1))).total == 0
    assert store.search_requests(ListFilter(now=now, newer_than=timedelta(hours=1))).total == 6

    threads = store.search_threads(ListFilter(now=now, tool="deploy"))
    assert [t.id for t in threads.rows] == [other]
    assert store.search_threads(ListFilter(now=now, status="waiting"), limit=4).total == 6
    assert len(store.search_threads(ListFilter(now=now), limit=4).rows) == 4
    assert store.distinct_values() == {"agent": ["ops"], "channel": ["api"], "tool": ["deploy", "restart_service"]}


def test_live_versions_change_with_what_the_pages_show_and_reminders_are_counted(store: Store) -> None:
    quiet = store.waiting_version()
    first = _request(store, by="bob@example.com", tool="restart_service", request_id="v1")
    one_waits = store.waiting_version()
    assert one_waits != quiet and one_waits.startswith("1:")
    before = store.thread_versions([first, "no-such-thread"])
    assert before == {first: f"waiting:{store.get_thread(first).last_seq}"}  # type: ignore[union-attr]

    # A reminder on a waiting thread: its page and the waiting list both change, and it is counted.
    store.append(first, [RequestReminded(request_id="v1", awaiting=["alice@example.com"])])
    assert store.thread_versions([first]) != before and store.waiting_version() != one_waits
    second = _request(store, by="bob@example.com", tool="deploy", request_id="v2")
    assert store.reminders_sent([("v1", first), ("v2", second)]) == {"v1": 1}

    # A decision: the thread stops waiting.
    two_wait = store.waiting_version()
    store.append(first, [ApprovalDecided(request_id="v1", approved=False, by="alice@example.com", comment="no")])
    assert store.waiting_version() != two_wait and store.waiting_version().startswith("1:")
