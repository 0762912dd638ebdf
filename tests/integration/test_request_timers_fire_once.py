"""The clock in storage, on SQLite and PostgreSQL: a request's timers are written with it, each fires
once however many replicas race for it, a request decided meanwhile makes its timers do nothing,
late ones fire in order (an expiry due as well supersedes a reminder), and standalone deadlines are
the same timers."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from agent.events import ApprovalDecided, ApprovalRequested, HumanMessage, QuestionAsked
from bot.identity import decision_identity, held_by
from bot.timer_service import timer_outbox
from storage.models import utcnow
from storage.standalone import StandaloneSpec
from storage.status import RequestKind
from storage.store import Store


def _thread_with_request(store: Store, channel: str = "slack", **clock: object) -> tuple[str, str]:
    row = store.create_thread(
        agent="ops",
        first=HumanMessage(text="restart payments", by="bob@example.com", channel=channel),
        requested_by="bob@example.com",
        origin_channel=channel,
        origin_key=f"T1:C1:{utcnow().timestamp()}",
        origin_data={"channel": "C1", "thread_ts": "1.0"},
    )
    assert row is not None
    request = ApprovalRequested(
        request_id=f"r-{row.id}",
        call_id=f"c-{row.id}",
        tool="restart_service",
        arguments={"name": "payments"},
        digest="d",
        reason="stuck",
        approvers=["alice@example.com", "U0CAROL"],
        required=2,
        **clock,  # type: ignore[arg-type]
    )
    store.append(row.id, [request])
    return row.id, request.request_id


def _types(store: Store, thread_id: str) -> list[str]:
    return [e.type for e in store.snapshot(thread_id).events]


def test_timers_are_written_with_the_request_and_fire_once_each_across_racing_replicas(store: Store) -> None:
    thread_id, request_id = _thread_with_request(
        store, remind_after=60, escalate_after=120, escalate_to=["U0DAVE"], expire_after=300
    )
    assert [(t.kind, t.fired_at) for t in store.timers_for(request_id)] == [
        ("remind", None),
        ("escalate", None),
        ("expire", None),
    ]
    start = utcnow()
    assert store.fire_due_timers(start, timer_outbox) == []  # nothing is due yet

    def race(at: timedelta) -> list[str]:
        with ThreadPoolExecutor(4) as pool:
            results = list(pool.map(lambda _: store.fire_due_timers(start + at, timer_outbox), range(4)))
        return [f"{t.kind}:{t.outcome}" for batch in results for t in batch]

    assert race(timedelta(seconds=61)) == ["remind:fired"]
    assert _types(store, thread_id)[-1] == "request_reminded"
    reminded = store.snapshot(thread_id).events[-1]
    assert reminded.awaiting == ["alice@example.com", "U0CAROL"]  # type: ignore[union-attr]
    assert store.get_thread(thread_id).status == "waiting"  # type: ignore[union-attr]  # a note

    assert race(timedelta(seconds=121)) == ["escalate:fired"]
    request = store.get_request(request_id)
    assert request is not None and request.allowed == ["alice@example.com", "U0CAROL", "U0DAVE"]

    assert race(timedelta(seconds=301)) == ["expire:fired"]
    request = store.get_request(request_id)
    assert request is not None and request.status == "expired" and request.decided_by == "signoff"
    assert _types(store, thread_id).count("request_expired") == 1
    assert store.get_thread(thread_id).status == "running"  # type: ignore[union-attr]  # the model is told
    kinds = [o.kind for o in store.outbox_for_thread(thread_id)]
    assert kinds == ["reminder", "escalation", "decision"]
    assert race(timedelta(days=1)) == []  # every timer fired, once


def test_a_request_decided_meanwhile_makes_its_timers_do_nothing(store: Store) -> None:
    thread_id, request_id = _thread_with_request(store, remind_after=60, expire_after=300)
    store.resolve(request_id, ApprovalDecided(request_id=request_id, approved=False, by="U0CAROL", comment="no"))
    before = _types(store, thread_id)
    fired = store.fire_due_timers(utcnow() + timedelta(hours=1), timer_outbox)
    assert sorted((t.kind, t.outcome) for t in fired) == [("expire", "decided"), ("remind", "decided")]
    assert _types(store, thread_id) == before
    assert store.get_request(request_id).status == "denied"  # type: ignore[union-attr]


def test_late_timers_fire_in_order_and_an_expiry_due_supersedes_the_reminder(store: Store) -> None:
    thread_id, request_id = _thread_with_request(store, remind_after=60, expire_after=300)
    fired = store.fire_due_timers(utcnow() + timedelta(hours=2), timer_outbox)  # a start after a long stop
    assert [(t.kind, t.outcome) for t in fired] == [("remind", "superseded"), ("expire", "fired")]
    assert "request_reminded" not in _types(store, thread_id)
    assert _types(store, thread_id)[-1] == "request_expired"


def test_a_reminder_names_only_who_has_not_approved_yet(store: Store) -> None:
    store.add_person("carol", slack_ids=["U0CAROL"], emails=["carol@example.com"])
    thread_id, request_id = _thread_with_request(store, remind_after=60)
    progress = ApprovalDecided(request_id=request_id, approved=True, by="carol@example.com", digest="d")
    carol = store.person_for("carol@example.com")
    progress = progress.model_copy(update={"identity": decision_identity("carol@example.com", carol, None, utcnow())})
    held = held_by("carol@example.com", carol)
    assert store.resolve(request_id, progress, identities=held).status == "progress"
    store.fire_due_timers(utcnow() + timedelta(minutes=2), timer_outbox)
    reminded = store.snapshot(thread_id).events[-1]
    assert reminded.type == "request_reminded"
    assert reminded.awaiting == ["alice@example.com"]  # carol's approval (as U0CAROL) counts
    assert (reminded.count, reminded.required) == (1, 2)


def test_a_question_has_the_same_clock(store: Store) -> None:
    row = store.create_thread(
        agent="ops",
        first=HumanMessage(text="hi", by="bob@example.com", channel="email"),
        requested_by="bob@example.com",
        origin_channel="email",
    )
    assert row is not None
    store.append(
        row.id, [QuestionAsked(request_id="q1", question="which?", answerers=["bob@example.com"], expire_after=5)]
    )
    fired = store.fire_due_timers(utcnow() + timedelta(seconds=6), timer_outbox)
    assert [(t.kind, t.outcome, t.messages) for t in fired] == [("expire", "fired", 1)]
    assert store.get_request("q1").status == "expired"  # type: ignore[union-attr]


def test_a_standalone_deadline_is_an_expire_timer_with_its_messages_and_callback(store: Store) -> None:
    now = utcnow()
    spec = StandaloneSpec(
        kind=RequestKind.APPROVAL,
        creator="service",
        allowed=["alice@example.com"],
        channels=["slack", "email"],
        requested_by="ci",
        action="drop_table",
        arguments={"name": "users"},
        origin_data={"standalone": True, "channel": "C0APPROVALS"},
        callback_url="http://127.0.0.1:9/hook",
        callback_secret="s" * 32,
        expires_at=now + timedelta(minutes=5),
    )
    created = store.create_standalone(spec)
    assert [t.kind for t in store.timers_for(created.request.id)] == ["expire"]
    assert store.fire_due_timers(now + timedelta(minutes=4), timer_outbox) == []
    with ThreadPoolExecutor(4) as pool:
        batches = list(pool.map(lambda _: store.fire_due_timers(now + timedelta(minutes=6), timer_outbox), range(4)))
    assert [(t.kind, t.outcome) for b in batches for t in b] == [("expire", "fired")]
    thread_id = created.standalone.thread_id
    assert store.get_thread(thread_id).status == "done"  # type: ignore[union-attr]
    kinds = [(o.channel, o.kind) for o in store.outbox_for_thread(thread_id)][2:]
    assert kinds == [("slack", "decision"), ("email", "decision"), ("callback", "callback")]
