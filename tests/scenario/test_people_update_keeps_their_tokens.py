"""`signoff people update`: a person gets a new address and loses the old one without being
removed, so their tokens stay valid; the address given up may then be someone else's; an id that
belongs to another person, a name nobody has, and an address they do not go by are refused, each
with a clear message, and nothing changes."""

from __future__ import annotations

import json
from pathlib import Path

from storage.db import Database
from storage.store import Store
from tests.scenario.test_cli_as_an_operator_uses_it import signoff_cli


def test_a_person_changes_address_and_keeps_their_token(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'people.db'}"
    env = {"SIGNOFF_DATABASE_URL": url}

    def cli(*args: str) -> tuple[int, str, str]:
        done = signoff_cli(*args, env=env, cwd=tmp_path)
        return done.returncode, done.stdout, done.stderr

    assert cli("db", "upgrade")[0] == 0
    assert cli("people", "add", "alice", "--slack", "U0ALICE", "--email", "alice@old.example")[0] == 0
    assert cli("people", "add", "bob", "--email", "bob@example.com")[0] == 0
    code, token, _ = cli("tokens", "create", "alice")
    assert code == 0

    code, out, err = cli("people", "update", "alice", "--email", "alice@new.example", "--remove", "alice@old.example")
    assert code == 0, err
    assert "U0ALICE, alice@new.example" in out
    listed = {p["name"]: p for p in json.loads(cli("people", "list", "--json")[1])}
    assert (listed["alice"]["slack_ids"], listed["alice"]["emails"]) == (["U0ALICE"], ["alice@new.example"])
    [row] = json.loads(cli("tokens", "list", "--json")[1])
    assert (row["person"], row["state"]) == ("alice", "valid")

    store = Store(Database(url))
    assert store.check_token(token.strip()).person.name == "alice"  # type: ignore[union-attr]
    assert store.person_for("ALICE@new.example").name == "alice"  # type: ignore[union-attr]
    assert store.person_for("alice@old.example") is None
    assert cli("people", "update", "bob", "--email", "alice@old.example")[0] == 0  # given up: free to take

    for args, words in (
        (("alice", "--email", "bob@example.com"), "bob@example.com already belongs to bob"),
        (("zed", "--email", "zed@example.com"), "nobody named zed"),
        (("alice", "--remove", "alice@old.example"), "alice does not go by alice@old.example"),
        (("alice", "--slack", "not-an-id"), "neither a Slack user id"),
    ):
        code, _, err = cli("people", "update", *args)
        assert code == 1 and words in err, err
    after = {p["name"]: p for p in json.loads(cli("people", "list", "--json")[1])}
    assert after["alice"]["emails"] == ["alice@new.example"]
    assert after["bob"]["emails"] == ["bob@example.com", "alice@old.example"]
