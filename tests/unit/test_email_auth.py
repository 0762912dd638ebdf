"""Only our own server's Authentication-Results count; DKIM can be checked without DNS."""

from __future__ import annotations

import base64

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from channels.email.auth import dkim_verify, parse_authentication_results, sender_authenticated

OURS = "mx.example.com"


@pytest.mark.parametrize(
    "header",
    [
        "mx.example.com; dmarc=pass (p=reject) header.from=corp.example",
        "mx.example.com; dkim=pass header.d=corp.example header.s=s1; spf=fail smtp.mailfrom=corp.example",
        "MX.Example.COM 1; dkim=pass (good signature) header.i=@corp.example",
        "mx.example.com; dkim=pass header.d=corp.example; dmarc=fail header.from=corp.example",
        "mx.example.com;\r\n dkim = pass header.d = corp.example",
    ],
)
def test_our_servers_pass_authenticates_the_sender(header):
    assert sender_authenticated([header], OURS, "corp.example")


def test_a_parent_domain_signature_is_aligned_but_a_child_is_not():
    assert sender_authenticated(["mx.example.com; dkim=pass header.d=corp.example"], OURS, "eu.corp.example")
    assert not sender_authenticated(["mx.example.com; dkim=pass header.d=eu.corp.example"], OURS, "corp.example")


@pytest.mark.parametrize(
    "headers",
    [
        # Forged by the sender: another authserv-id, or ours only inside a comment.
        ["attacker.example; dkim=pass header.d=corp.example; dmarc=pass header.from=corp.example"],
        ["(mx.example.com) attacker.example; dmarc=pass header.from=corp.example"],
        ["mx.example.com.attacker.example; dmarc=pass header.from=corp.example"],
        # Ours, but failing or unaligned.
        ["mx.example.com; dkim=fail header.d=corp.example; dmarc=fail header.from=corp.example"],
        ["mx.example.com; dkim=pass header.d=evil.example; spf=pass smtp.mailfrom=corp.example"],
        ["mx.example.com; dmarc=pass header.from=evil.example"],
        ["mx.example.com; dkim=pass header.d=example"],
        ["mx.example.com; none"],
        ["garbage"],
        [],
    ],
)
def test_forged_failing_or_unaligned_results_do_not_count(headers):
    assert not sender_authenticated(headers, OURS, "corp.example")


def test_a_forged_header_next_to_ours_does_not_help():
    headers = [
        "mx.example.com; dkim=none; dmarc=none",
        "gmail.com; dkim=pass header.d=corp.example; dmarc=pass header.from=corp.example",
    ]
    assert not sender_authenticated(headers, OURS, "corp.example")


def test_results_with_comments_and_quotes_are_parsed():
    parsed = parse_authentication_results(
        'mx.example.com (Postfix; "quoted;") 1; dkim=pass (2048-bit key; secure) header.d=corp.example '
        'header.b="a;b"; spf=softfail smtp.mailfrom=corp.example'
    )
    assert parsed is not None and parsed.authserv_id == "mx.example.com"
    assert [(r.method, r.result) for r in parsed.results] == [("dkim", "pass"), ("spf", "softfail")]
    assert parsed.results[0].properties["header.d"] == "corp.example"


# -- DKIM with a local key and a DNS stand-in ---------------------------------------------------


@pytest.fixture(scope="module")
def dkim_key():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )
    public_der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    txt = b"v=DKIM1; k=rsa; p=" + base64.b64encode(public_der)
    records = {b"s1._domainkey.corp.example.": txt}

    def dnsfunc(name, timeout=5):
        return records.get(name if isinstance(name, bytes) else name.encode())

    return private_pem, dnsfunc


def signed_message(private_pem: bytes, *, domain: str = "corp.example", body: bytes = b"approve\r\n") -> bytes:
    message = (
        b"From: Bob <bob@corp.example>\r\nTo: agent@example.com\r\nSubject: Re: approval\r\n"
        b"Message-ID: <dkim-1@corp.example>\r\nDate: Tue, 14 May 2024 09:10:00 +0000\r\n\r\n" + body
    )
    signature = dkim.sign(message, b"s1", domain.encode(), private_pem, include_headers=[b"from", b"to", b"subject"])
    return signature + message


def test_a_correctly_signed_message_verifies(dkim_key):
    private_pem, dnsfunc = dkim_key
    raw = signed_message(private_pem)
    assert dkim_verify(raw, dnsfunc=dnsfunc)
    assert dkim_verify(raw, from_domain="corp.example", dnsfunc=dnsfunc)


def test_a_changed_body_fails_dkim(dkim_key):
    private_pem, dnsfunc = dkim_key
    raw = signed_message(private_pem).replace(b"approve\r\n", b"deny\r\n")
    assert not dkim_verify(raw, dnsfunc=dnsfunc)


def test_a_signature_for_another_domain_is_not_aligned(dkim_key):
    private_pem, dnsfunc = dkim_key
    raw = signed_message(private_pem)
    assert not dkim_verify(raw, from_domain="other.example", dnsfunc=dnsfunc)


def test_no_key_in_dns_or_no_signature_fails(dkim_key):
    private_pem, _ = dkim_key
    assert not dkim_verify(signed_message(private_pem), dnsfunc=lambda name, timeout=5: None)
    assert not dkim_verify(b"From: a@corp.example\r\n\r\nhi\r\n", dnsfunc=lambda name, timeout=5: None)
