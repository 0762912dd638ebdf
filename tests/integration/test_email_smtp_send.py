"""send_message delivers over real SMTP and says whether a failure is worth retrying."""

from __future__ import annotations

import pytest

from channels.email.compose import ThreadRefs, compose_reply
from channels.email.smtp_send import SmtpSettings, send_message
from channels.errors import PermanentDeliveryError, RetryableDeliveryError
from tests.support.dovecot import free_port
from tests.support.smtp_server import SmtpServer

pytestmark = pytest.mark.filterwarnings("ignore:Session.login_data is deprecated:DeprecationWarning")


@pytest.fixture
def smtp():
    server = SmtpServer.start()
    yield server
    server.stop()


@pytest.fixture
def smtp_tls():
    server = SmtpServer.start(tls=True, auth={"signoff": "smtp-pw"})
    yield server
    server.stop()


def message(to: str = "bob@corp.example"):
    thread = ThreadRefs.answering("<p@corp.example>", [], "payments")
    return compose_reply(agent_address="agent@example.com", to=[to], thread=thread, text="Restarted payments.")


def plain(server: SmtpServer, **changes) -> SmtpSettings:
    values = dict(host=server.host, port=server.port, tls="off", timeout=2.0)
    values.update(changes)
    return SmtpSettings(**values)


async def test_a_message_reaches_the_server_with_its_envelope(smtp):
    msg = message()
    result = await send_message(msg, plain(smtp))
    assert result.refused == {}
    [received] = smtp.messages
    assert received.mail_from == "agent@example.com"
    assert received.rcpt_tos == ["bob@corp.example"]
    assert received.message["Message-ID"] == msg["Message-ID"]
    assert received.message["In-Reply-To"] == "<p@corp.example>"
    assert received.message.get_content().strip() == "Restarted payments."


@pytest.mark.parametrize("code", [421, 450, 451, 452])
async def test_a_4xx_reply_is_retryable(smtp, code):
    smtp.fail_next(code, "4.3.0 try again later")
    with pytest.raises(RetryableDeliveryError, match=str(code)):
        await send_message(message(), plain(smtp))
    await send_message(message(), plain(smtp))  # and the retry goes through
    assert len(smtp.messages) == 1


@pytest.mark.parametrize("code", [550, 552, 554])
async def test_a_5xx_reply_is_permanent(smtp, code):
    smtp.fail_next(code, "5.7.1 message rejected")
    with pytest.raises(PermanentDeliveryError, match=str(code)):
        await send_message(message(), plain(smtp))


async def test_a_server_that_does_not_answer_in_time_is_retryable(smtp):
    smtp.hang_next(3.0)
    with pytest.raises(RetryableDeliveryError):
        await send_message(message(), plain(smtp, timeout=0.5))


async def test_a_refused_connection_is_retryable():
    with pytest.raises(RetryableDeliveryError):
        await send_message(message(), SmtpSettings(host="127.0.0.1", port=free_port(), tls="off", timeout=2.0))


async def test_starttls_with_login_delivers(smtp_tls):
    settings = plain(
        smtp_tls, tls="starttls", username="signoff", password="smtp-pw", tls_context=smtp_tls.client_context()
    )
    await send_message(message(), settings)
    [received] = smtp_tls.messages
    assert received.authenticated_as == "signoff"


async def test_a_wrong_password_is_permanent(smtp_tls):
    settings = plain(
        smtp_tls, tls="starttls", username="signoff", password="wrong", tls_context=smtp_tls.client_context()
    )
    with pytest.raises(PermanentDeliveryError, match="535"):
        await send_message(message(), settings)
    assert smtp_tls.messages == []


async def test_an_untrusted_certificate_is_not_accepted(smtp_tls):
    settings = plain(smtp_tls, tls="starttls", username="signoff", password="smtp-pw")  # system CAs only
    with pytest.raises(RetryableDeliveryError, match="certificate"):
        await send_message(message(), settings)
    assert smtp_tls.messages == []


async def test_a_server_without_starttls_never_gets_the_message_in_plaintext(smtp):
    with pytest.raises(RetryableDeliveryError, match="STARTTLS"):
        await send_message(message(), plain(smtp, tls="starttls"))
    assert smtp.messages == []


def test_the_password_is_not_in_the_settings_repr():
    assert "smtp-pw" not in repr(SmtpSettings(host="mail.example.com", password="smtp-pw"))
