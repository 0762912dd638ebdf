"""A write to a SQLite file that waits on another process's write starts as soon as that one
commits, not at SQLite's next busy-timeout poll (1, 2, 5, 10 ... 100 ms apart): the ingress and
the workers of one `serve` write to the same file all the time (storage/db.py, `WriterLock`)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import text

from storage.db import Database

HOLD = 0.24  # seconds the other process keeps its write open: SQLite's polls come at 228 and 328 ms

# The commit is timed as it happens, before the writer lock is let go: timed after, a busy machine
# could run our write between the release and the other process reading its clock.
OTHER_WRITER = """
import sys, time
from sqlalchemy import event, text
from storage.db import Database

db = Database(sys.argv[1])
committed = []
with db.write() as session:
    event.listen(session, "after_commit", lambda _session: committed.append(time.monotonic()))
    session.execute(text("INSERT INTO marks (who) VALUES ('other')"))
    print("holding", flush=True)
    time.sleep(float(sys.argv[2]))
print(f"committed {committed[0]:.6f}", flush=True)
db.dispose()
"""


def gap_after_the_other_commits(db: Database, url: str) -> float:
    """Seconds between the other process's commit and this process's write starting."""
    other = subprocess.Popen([sys.executable, "-c", OTHER_WRITER, url, str(HOLD)], stdout=subprocess.PIPE, text=True)
    try:
        assert other.stdout is not None
        assert other.stdout.readline().strip() == "holding"
        with db.write() as session:
            started = time.monotonic()  # CLOCK_MONOTONIC: the same clock in both processes
            session.execute(text("INSERT INTO marks (who) VALUES ('us')"))
        committed = float(other.stdout.readline().split()[1])
    finally:
        other.wait(30)
    assert started >= committed, "the two writes overlapped"
    return started - committed


def test_a_write_waiting_on_another_process_starts_when_that_one_commits(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'signoff.db'}"
    db = Database(url)
    try:
        with db.write() as session:
            session.execute(text("CREATE TABLE marks (id INTEGER PRIMARY KEY, who TEXT)"))
        gaps = [gap_after_the_other_commits(db, url) for _ in range(3)]
        with db.session() as session:
            assert session.execute(text("SELECT count(*) FROM marks")).scalar_one() == 6
    finally:
        db.dispose()
    # Polling, the best of three would be ~60-90 ms; taking turns on the lock, a few ms at most.
    assert min(gaps) < 0.04, gaps
