"""The people directory on SQLite and PostgreSQL: one person per Slack id or address, tokens kept
only as hashes, revoked and expired tokens refused, last use recorded."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from storage.models import utcnow
from storage.people import LAST_USED_RESOLUTION, PeopleError, TokenState, hash_token
from storage.people_models import ApiTokenRow, PersonIdentityRow
from storage.store import Store


def test_a_person_is_found_by_name_slack_id_or_address_in_any_ascii_case(store: Store) -> None:
    alice = store.add_person("alice", slack_ids=["U0ALICE"], emails=["Alice@Example.com"])
    assert store.person_for("alice") == alice
    assert store.person_for("U0ALICE") == alice
    assert store.person_for("alice@example.com") == alice
    assert store.person_for("ALICE@EXAMPLE.COM") == alice
    assert store.person_for("bob@example.com") is None
    assert store.person_for("U0BOB") is None
    # A look-alike (Cyrillic а) is someone else.
    assert store.person_for("\u0430lice@example.com") is None
    found = store.people_for(["alice", "U0ALICE", "nobody", "carol@example.com"])
    assert set(found) == {"alice", "U0ALICE"}


def test_an_identity_belongs_to_one_person_and_names_are_checked(store: Store) -> None:
    store.add_person("alice", slack_ids=["U0ALICE"], emails=["alice@example.com"])
    with pytest.raises(PeopleError, match="ALICE@example.com already belongs to alice"):
        store.add_person("mallory", emails=["ALICE@example.com"])
    with pytest.raises(PeopleError, match="U0ALICE already belongs to alice"):
        store.add_person("mallory", slack_ids=["U0ALICE"])
    with pytest.raises(PeopleError, match="already a person named alice"):
        store.add_person("alice")
    with pytest.raises(PeopleError, match="not a directory name"):
        store.add_person("Alice")
    with pytest.raises(PeopleError, match="not a directory name"):
        store.add_person("a@b.c")
    with pytest.raises(PeopleError, match="neither a Slack user id"):
        store.add_person("carol", slack_ids=["#general"])
    assert [p.name for p in store.list_people()] == ["alice"]  # nothing half-added


def test_removing_a_person_frees_their_identities_and_ends_their_tokens(store: Store) -> None:
    store.add_person("alice", slack_ids=["U0ALICE"], emails=["alice@example.com"])
    token, _row = store.create_token("alice", expires_at=None)
    assert store.check_token(token).state == TokenState.VALID
    assert store.remove_person("alice")
    assert not store.remove_person("alice")
    assert store.check_token(token).state == TokenState.UNKNOWN
    assert store.person_for("U0ALICE") is None
    again = store.add_person("alice2", slack_ids=["U0ALICE"])
    assert store.person_for("U0ALICE") == again


def test_a_token_is_stored_as_its_hash_only(store: Store) -> None:
    store.add_person("alice", emails=["alice@example.com"])
    token, row = store.create_token("alice", expires_at=utcnow() + timedelta(days=1), label="ci")
    assert token.startswith("sgf_") and len(token) > 40
    with store.db.session() as session:
        stored = session.exec(select(ApiTokenRow)).one()
        identities = session.exec(select(PersonIdentityRow)).all()
    assert stored.hash == hash_token(token) and token not in stored.model_dump_json()
    assert [i.key for i in identities] == ["email:alice@example.com"]
    check = store.check_token(token)
    assert check.state == TokenState.VALID and check.person is not None and check.person.name == "alice"
    assert check.token_id == row.id
    assert store.check_token(token[:-1] + ("A" if token[-1] != "A" else "B")).state == TokenState.UNKNOWN
    assert store.check_token("not-a-token").state == TokenState.UNKNOWN
    with pytest.raises(PeopleError, match="nobody named zed"):
        store.create_token("zed", expires_at=None)


def test_revoked_and_expired_tokens_are_refused_and_use_is_recorded(store: Store) -> None:
    store.add_person("alice", emails=["alice@example.com"])
    now = utcnow()
    token, row = store.create_token("alice", expires_at=now + timedelta(hours=1))
    assert store.check_token(token, now=now).state == TokenState.VALID
    [(listed, owner)] = store.list_tokens()
    assert owner == "alice" and listed.last_used_at is not None
    first_use = listed.last_used_at
    store.check_token(token, now=now + LAST_USED_RESOLUTION / 2)  # within the resolution: no write
    assert store.list_tokens("alice")[0][0].last_used_at == first_use
    store.check_token(token, now=now + LAST_USED_RESOLUTION * 2)
    assert store.list_tokens("alice")[0][0].last_used_at == now + LAST_USED_RESOLUTION * 2
    assert store.check_token(token, now=now + timedelta(hours=1)).state == TokenState.EXPIRED
    assert store.revoke_token(row.id)
    assert not store.revoke_token(row.id)
    assert store.check_token(token, now=now).state == TokenState.REVOKED
    assert store.list_tokens("bob") == []
