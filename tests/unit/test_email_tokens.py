"""Reply addresses carry an unguessable token bound to one request and one approver."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from channels.email.tokens import TokenClaim, make_reply_address, read_reply_token

SECRET = "test-secret-key"
NOW = datetime(2024, 5, 14, 9, 0, tzinfo=UTC)
REQUEST = "3f2b6c1e-8a4d-4e1f-9b7a-2c5d8e9f0a1b"
BOB = "bob@corp.example"


def address(request_id: str = REQUEST, approver: str = BOB, expires_at: datetime | None = NOW + timedelta(hours=4)):
    return make_reply_address("agent@example.com", request_id, approver, SECRET, expires_at)


def test_a_valid_reply_names_the_request_and_the_approver():
    claim = read_reply_token(address(), SECRET, NOW, BOB)
    assert claim == TokenClaim(request_id=REQUEST, approver=BOB, expires_at=NOW + timedelta(hours=4))


def test_the_address_keeps_the_agent_mailbox_and_fits_a_local_part():
    reply_to = address()
    local, _, domain = reply_to.partition("@")
    assert domain == "example.com"
    assert local.startswith("agent+")
    assert len(local) <= 64
    assert local == local.lower() and local.replace("+", "").isalnum()


def test_a_lowercased_or_uppercased_address_still_works():
    reply_to = address()
    assert read_reply_token(reply_to.upper(), SECRET, NOW, BOB.upper()) is not None
    assert read_reply_token(f"Signoff <{reply_to}>", SECRET, NOW, f"Bob <{BOB}>") is not None


def test_a_reply_from_another_person_is_rejected():
    assert read_reply_token(address(), SECRET, NOW, "mallory@corp.example") is None


def test_an_expired_token_is_rejected():
    assert read_reply_token(address(), SECRET, NOW + timedelta(hours=4, minutes=1), BOB) is None
    assert read_reply_token(address(), SECRET, NOW + timedelta(hours=3, minutes=59), BOB) is not None


def test_a_token_without_expiry_does_not_expire():
    reply_to = address(expires_at=None)
    assert read_reply_token(reply_to, SECRET, NOW + timedelta(days=3650), BOB) is not None


def test_a_token_made_with_another_secret_is_rejected():
    assert read_reply_token(address(), "another-secret", NOW, BOB) is None


def _token_bytes(reply_to: str) -> bytearray:
    token = reply_to.partition("@")[0].rpartition("+")[2]
    return bytearray(base64.b32decode(token.upper() + "=" * (-len(token) % 8)))


def _with_token(raw: bytes) -> str:
    return "agent+" + base64.b32encode(bytes(raw)).decode().rstrip("=").lower() + "@example.com"


def test_a_token_pointing_at_another_request_is_rejected():
    raw = _token_bytes(address())
    other = uuid.UUID("00000000-0000-4000-8000-000000000000").bytes
    raw[5:21] = other  # header 1 + expiry 4, then the 16-byte request id
    assert read_reply_token(_with_token(raw), SECRET, NOW, BOB) is None


@pytest.mark.parametrize("position", [0, 3, 10, -1])
def test_any_flipped_bit_is_rejected(position):
    raw = _token_bytes(address())
    raw[position] ^= 0x01
    assert read_reply_token(_with_token(raw), SECRET, NOW, BOB) is None


def test_an_extended_expiry_is_rejected():
    raw = _token_bytes(address())
    raw[1:5] = (int.from_bytes(raw[1:5], "big") + 60 * 24).to_bytes(4, "big")
    assert read_reply_token(_with_token(raw), SECRET, NOW + timedelta(hours=5), BOB) is None


@pytest.mark.parametrize(
    "reply_to",
    ["agent@example.com", "agent+@example.com", "agent+!!!@example.com", "agent+abc@example.com", "not an address"],
)
def test_garbage_is_rejected(reply_to):
    assert read_reply_token(reply_to, SECRET, NOW, BOB) is None


@pytest.mark.parametrize("request_id", ["r-42", "0123abcd", "01HZX3K4Q9", "ABCDEF12", "42"])
def test_other_request_id_shapes_round_trip(request_id):
    claim = read_reply_token(address(request_id=request_id), SECRET, NOW, BOB)
    assert claim is not None and claim.request_id == request_id


def test_two_approvers_of_one_request_get_different_addresses():
    assert address(approver=BOB) != address(approver="carol@corp.example")


def test_a_request_id_too_long_for_a_local_part_is_refused_loudly():
    with pytest.raises(ValueError, match="local part"):
        address(request_id="x" * 60)


KATE = "kate@example.com"


@pytest.mark.parametrize(
    "look_alike",
    [
        "\u212aate@example.com",  # KELVIN SIGN: NFKC (and str.lower) fold it into k
        "\uff4bate@example.com",  # FULLWIDTH LATIN SMALL LETTER K
        "k\u0430te@example.com",  # CYRILLIC SMALL LETTER A
        "kate@exampl\u0435.com",  # CYRILLIC SMALL LETTER IE in the domain
        "kate@example.com\u200b",  # a zero-width space after it
        "KATE@EXAMPLE.COM\u212a",  # a Kelvin sign where nothing is expected
    ],
)
def test_a_look_alike_sender_does_not_match_a_token_issued_to_kate(look_alike):
    """#22.4: addresses are compared exactly (ASCII letters lowercased), and an address that NFKC would
    change is refused: no spelling of a sender stands in for another."""
    reply_to = address(approver=KATE)
    assert read_reply_token(reply_to, SECRET, NOW, KATE) is not None
    assert read_reply_token(reply_to, SECRET, NOW, "Kate <KATE@Example.COM>") is not None
    assert read_reply_token(reply_to, SECRET, NOW, look_alike) is None


def test_a_token_cannot_be_issued_to_an_address_normalisation_would_change():
    with pytest.raises(ValueError, match="not an address a reply can be matched to"):
        address(approver="\u212aate@example.com")
    international = "j\u00f6rg@example.de"  # NFKC-stable non-ASCII is fine, and matched exactly
    assert read_reply_token(address(approver=international), SECRET, NOW, international) is not None
    assert read_reply_token(address(approver=international), SECRET, NOW, "jo\u0308rg@example.de") is None


def test_a_token_is_read_only_in_its_one_spelling():
    """Base32's last character carries unused bits: an address with them changed is an altered
    address, and is refused even though it decodes to the same bytes."""
    reply_to = address()
    local, _, domain = reply_to.partition("@")
    others = [f"{local[:-1]}{c}@{domain}" for c in "abcdefghijklmnopqrstuvwxyz234567" if c != local[-1]]
    assert [a for a in others if read_reply_token(a, SECRET, NOW, BOB) is not None] == []
