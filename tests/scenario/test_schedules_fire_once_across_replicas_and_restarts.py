"""A schedule fires each due time once: with two replicas on one PostgreSQL database each time makes
one thread; after a restart that spanned its time, `catch_up = "once"` fires the latest missed time
once and `catch_up = "skip"` records it skipped; `signoff schedules list` shows both, the audit the
firing. Real `signoff serve` processes; schedules to the second (croniter's sixth field), checked
every 0.5 s. A scheduled thread asks its humans on the mail list its entry names (Dovecot and aiosmtpd)."""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime
from pathlib import Path

from storage.db import Database
from storage.models import ThreadRow
from storage.schedule_models import ScheduleRow
from storage.schedules import Schedules
from storage.store import Store
from tests.scenario.test_cli_as_an_operator_uses_it import signoff_cli
from tests.support.deployments import deployment_env
from tests.support.email_signoff import MakeEmailBot, body_of, reply, to_of
from tests.support.fake_model import FakeModelServer, text, tool_call
from tests.support.signoff_process import SignoffProcess, wait_until

ONCALL = "oncall@example.com"


def schedule(name: str, seconds: int, catch_up: str) -> str:
    return f"""
[schedules.{name}]
agent = "ops"
cron = "* * * * * */{seconds}"
message = "Check on the services ({name})."
catch_up = "{catch_up}"
"""


def fired(url: str, name: str) -> list[ThreadRow]:
    database = Database(url)
    try:
        rows = Store(database).list_threads(limit=1000)
    finally:
        database.dispose()
    return [r for r in rows if r.origin_channel == "schedule" and (r.origin_key or "").startswith(f"schedule:{name}:")]


def due_of(row: ThreadRow) -> datetime:
    stamp = (row.origin_key or "").split(":", 2)[2]  # schedule:<name>:<due time>
    return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def counts(line: str) -> tuple[int, int]:
    found = re.search(r"\((\d+) fired, (\d+) skipped\)", line)
    assert found, line
    return int(found.group(1)), int(found.group(2))


def test_two_replicas_on_postgresql_fire_each_time_once(
    database_url: str, model: FakeModelServer, tmp_path: Path
) -> None:
    model.default = lambda _body: text("All services are up.")
    env = {
        "SIGNOFF_DATABASE_URL": database_url,
        "SIGNOFF_APPROVERS": "alice@example.com",
        "SIGNOFF_SCHEDULE_INTERVAL": "0.5",
        **model.settings(),
        **deployment_env(tmp_path, schedule("tick", 3, "skip")),
    }
    replicas = [SignoffProcess(env, tmp_path / name) for name in ("a", "b")]
    for replica in replicas:
        replica.workdir.mkdir()
    try:
        for replica in replicas:
            replica.start()
        wait_until(lambda: len(fired(database_url, "tick")) >= 4, timeout=60, message="four firings")
    finally:
        for replica in replicas:
            replica.stop()
    rows = fired(database_url, "tick")
    dues = sorted(due_of(r) for r in rows)
    assert len(dues) == len(set(dues)) >= 4  # each time once, whichever replica fired it
    database = Database(database_url)
    try:
        state = Schedules(database).all()["tick"]
    finally:
        database.dispose()
    assert state.fired == len(dues) and state.last_due == dues[-1]
    assert all(r.agent == "ops" and r.requested_by == "schedule:tick" for r in rows)


def test_after_a_restart_spanning_its_time_once_fires_once_and_skip_skips(
    model: FakeModelServer, tmp_path: Path
) -> None:
    """Both schedules are due once, at `due` (then a day later): seen by a first start, passed while
    the bot is down, and the second start comes after its grace, however long starting takes."""
    model.default = lambda _body: text("All services are up.")
    url = f"sqlite:///{tmp_path / 'signoff.db'}"
    due = datetime.fromtimestamp(int(time.time()) + 60, UTC)
    daily = f"{due.minute} {due.hour} * * * {due.second}"
    env = {
        "SIGNOFF_DATABASE_URL": url,
        "SIGNOFF_APPROVERS": "alice@example.com",
        "SIGNOFF_SCHEDULE_INTERVAL": "0.5",
        **model.settings(),
        **deployment_env(tmp_path, at(daily, "late", "once") + at(daily, "never", "skip")),
    }
    server = SignoffProcess(env, tmp_path)
    server.start()
    try:
        wait_until(lambda: set(schedule_rows(url)) == {"late", "never"}, timeout=30, message="the schedules seen")
    finally:
        server.stop()
    assert datetime.now(UTC) < due, "the first start took too long to stop before the due time"
    time.sleep(due.timestamp() - time.time() + 3)  # down over the due time and past its grace (2 s)
    server.start()
    try:
        [caught_up] = wait_until(lambda: fired(url, "late"), timeout=20, message="the catch-up")
        wait_until(lambda: schedule_rows(url)["never"].skipped == 1, timeout=20, message="the skip")
        listing = signoff_cli("schedules", "list", env=env, cwd=tmp_path)
        audit = signoff_cli("audit", "--type", "human_message", env=env, cwd=tmp_path)
        verified = signoff_cli("audit", "verify", env=env, cwd=tmp_path)
    finally:
        server.stop()
    # the missed time, once (the thread itself may have run on since: compare ids, not rows)
    assert due_of(caught_up) == due and [r.id for r in fired(url, "late")] == [caught_up.id]
    assert fired(url, "never") == []
    assert listing.returncode == 0, listing.stderr
    lines = {line.split()[0]: line for line in listing.stdout.splitlines()}
    assert (
        "catch-up once" in lines["late"]
        and f"last fired for {due:%Y-%m-%d %H:%M}Z thread {caught_up.id}" in lines["late"]
    )
    assert counts(lines["late"]) == (1, 0) and counts(lines["never"]) == (0, 1)
    assert "last skipped" in lines["never"]
    # The audit holds the firing (in its hash chain too): when, which schedule, which due time, its thread.
    assert audit.returncode == 0, audit.stderr
    [record] = [json.loads(line) for line in audit.stdout.splitlines()]
    assert (record["thread_id"], record["by"]) == (caught_up.id, "schedule:late")
    assert record["outcome"] == f"started by schedule:late:{due:%Y-%m-%dT%H:%M:%S}Z"
    assert verified.returncode == 0 and "audit chain OK" in verified.stdout, verified.stdout + verified.stderr


def at(cron: str, name: str, catch_up: str) -> str:
    return f"""
[schedules.{name}]
agent = "ops"
cron = "{cron}"
message = "Check on the services ({name})."
catch_up = "{catch_up}"
"""


def schedule_rows(url: str) -> dict[str, ScheduleRow]:
    database = Database(url)
    try:
        return Schedules(database).all()
    finally:
        database.dispose()


def test_a_scheduled_thread_asks_its_humans_on_the_mail_list_it_names(
    make_email_bot: MakeEmailBot, model: FakeModelServer, tmp_path: Path
) -> None:
    """Nobody is in a thread a schedule started: its question goes to the `ask` address (an on-call
    list), a reply from there answers it, and the agent's last word is mailed there too."""
    model.script(
        tool_call("ask_human", {"question": "Restart payments or search?", "options": ["payments", "search"]}),
        text("Search was checked and is fine."),
    )
    due = datetime.fromtimestamp(int(time.time()) + 45, UTC)  # after the bot has started on a loaded machine
    nightly = at(f"{due.minute} {due.hour} * * * {due.second}", "nightly", "skip")
    bot = make_email_bot(
        SIGNOFF_SCHEDULE_INTERVAL="0.5",
        **deployment_env(tmp_path, nightly + f'ask = "email:{ONCALL}"\n'),
    )
    [question] = bot.wait_sent(
        1, lambda m: "Restart payments or search?" in body_of(m) and to_of(m) == [ONCALL], timeout=90
    )
    assert "nightly" in str(question.message["Subject"])
    [thread] = bot.threads()
    assert thread["agent"] == "ops"
    assert bot.thread(thread["id"])["events"][0]["by"] == "schedule:nightly"

    bot.send(reply(question.message, ONCALL, "search"))
    done = bot.wait_status(thread["id"], "done")
    answered = next(e for e in done["events"] if e["type"] == "question_answered")
    assert (answered["answer"], answered["by"]) == ("search", ONCALL)
    [final] = bot.wait_sent(1, lambda m: "Search was checked and is fine." in body_of(m))
    assert to_of(final) == [ONCALL]
