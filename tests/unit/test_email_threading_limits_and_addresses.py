"""Pure pieces of the email channel: the per-sender limit (with an injected clock), our addresses,
derived Message-IDs, the References of our next message, and reading only a message's headers."""

from __future__ import annotations

from channels.base import Origin
from channels.email.addresses import Mailbox, derived_message_id, email_addresses
from channels.email.limits import SenderRateLimit
from channels.email.parse import AutoKind, parse_headers
from channels.email.threads import ThreadMail, reference_chain


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_limit_counts_per_sender_within_a_sliding_hour() -> None:
    clock = Clock()
    limit = SenderRateLimit(2, clock=clock)
    assert limit.allow("bob@x.example") and limit.allow("BOB@x.example")
    assert not limit.allow("bob@x.example")
    assert limit.allow("carol@x.example")  # others are not affected
    clock.now += 3599
    assert not limit.allow("bob@x.example")
    clock.now += 2
    assert limit.allow("bob@x.example")
    assert SenderRateLimit(0, clock=clock).allow("anyone@x.example")  # 0: no limit


def test_our_address_and_its_plus_variants_are_ours() -> None:
    box = Mailbox("Agent@Example.com")
    assert box.is_ours("agent@example.com") and box.is_ours("agent+abc@EXAMPLE.com")
    assert not box.is_ours("agentx@example.com") and not box.is_ours("agent@example.org")
    assert box.tagged(["agent@example.com", "Agent+Tok@example.com", "bob+x@example.com"]) == ["agent+tok@example.com"]
    assert box.others(["bob@x.example", "agent@example.com", "Bob@x.example", "U0SLACK"]) == ["bob@x.example"]
    assert email_addresses(["U0ALICE", "alice@example.com", "S0GROUP", "Alice@example.com"]) == ["alice@example.com"]


def test_derived_message_ids_are_stable_distinct_and_need_the_key() -> None:
    first = derived_message_id("k", "example.com", "approval_request", "t1", 7, "alice@example.com")
    assert first == derived_message_id("k", "example.com", "approval_request", "t1", 7, "alice@example.com")
    assert first.startswith("<signoff.approval-request.") and first.endswith("@example.com>")
    assert first != derived_message_id("k", "example.com", "approval_request", "t1", 7, "carol@example.com")
    assert first != derived_message_id("other key", "example.com", "approval_request", "t1", 7, "alice@example.com")


def test_our_next_message_answers_the_newest_human_message_with_the_root_first() -> None:
    origin = Origin("email", "<root@x>", {"references": ["<older@x>"]})
    thread = ThreadMail(["<root@x>", "<ours1@a>", "<bob2@x>", "<ours2@a>"], "<bob2@x>", ["bob@x"])
    parent, references = reference_chain(origin, thread)
    assert parent == "<bob2@x>"
    assert references == ("<older@x>", "<root@x>", "<ours1@a>", "<ours2@a>", "<bob2@x>")

    only_root = ThreadMail(["<root@x>", "<ours1@a>"], "<root@x>", ["bob@x"])
    assert reference_chain(Origin("email", "<root@x>"), only_root) == ("<root@x>", ("<root@x>", "<ours1@a>"))

    many = ThreadMail([f"<m{i}@x>" for i in range(40)], "<m39@x>", [])
    _, long_chain = reference_chain(Origin("email", "<m0@x>"), many)
    assert len(long_chain) == 20 and long_chain[0] == "<m0@x>" and long_chain[-1] == "<m39@x>"


def test_a_thread_begun_elsewhere_answers_the_message_it_names_else_its_first_mail() -> None:
    asked_in_reply = Origin("standalone", "t1", {"in_reply_to": "<bob1@x>", "references": ["<root@x>", "<bob1@x>"]})
    assert reference_chain(asked_in_reply, ThreadMail()) == ("<bob1@x>", ("<root@x>", "<bob1@x>"))
    sent = ThreadMail(["<ours1@a>"], None, [])
    assert reference_chain(asked_in_reply, sent) == ("<bob1@x>", ("<root@x>", "<ours1@a>", "<bob1@x>"))
    assert reference_chain(Origin("standalone", "t2"), ThreadMail()) == (None, ())
    assert reference_chain(Origin("slack", "T:C:1.2"), ThreadMail(["<ours1@a>", "<ours2@a>"])) == (
        "<ours1@a>",
        ("<ours1@a>", "<ours2@a>"),
    )
    not_an_id = Origin("standalone", "t3", {"in_reply_to": "bob1@x"})
    assert reference_chain(not_an_id, ThreadMail()) == (None, ())


def test_the_headers_of_a_message_too_large_to_parse_are_still_read() -> None:
    raw = (
        b"Return-Path: <>\r\nFrom: Bob <bob@x.example>\r\nTo: agent@example.com\r\nSubject: huge\r\n"
        b"Message-ID: <huge@x.example>\r\nDelivered-To: agent+tag@example.com\r\n\r\n" + b"x" * 1_000_000
    )
    mail = parse_headers(raw)
    assert (mail.message_id, mail.from_addr, mail.subject) == ("<huge@x.example>", "bob@x.example", "huge")
    assert mail.delivered_to == ["agent+tag@example.com"]
    assert mail.auto is AutoKind.NULL_SENDER and mail.text == ""
