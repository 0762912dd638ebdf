"""What the clock says, rendered: a Slack reminder mentions each person still awaited by their Slack
id (a name or an address stays inert text, however hostile), says the progress toward N of M and how
to answer; an escalation names who may now decide; a reminder mail puts its reason above the
request's own text."""

from __future__ import annotations

from email.message import EmailMessage

from channels.base import Origin, Outbound
from channels.email.clock_mail import escalation_intro, reminder_intro, with_intro
from channels.slack import clock_notes
from tests.support.request_views import approval_view, question_view

APPROVAL = approval_view(
    id="r1",
    thread_id="t1",
    reason="stuck",
    allowed=["alice", "carol", "U0CAROL", "carol@example.com"],
    required=2,
    approved_by=["alice"],
)
QUESTION = question_view(id="q1", thread_id="t1", allowed=["U0BOB"])


def _outbound(kind: str, people: tuple[str, ...], aliases: dict[str, tuple[str, ...]]) -> Outbound:
    return Outbound(
        id=1,
        thread_id="t1",
        kind=kind,  # type: ignore[arg-type]
        origin=Origin("slack", "T1:C1:1.0"),
        request=APPROVAL,
        people=people,
        aliases=aliases,
    )


def test_a_slack_reminder_mentions_who_is_awaited_by_their_slack_id() -> None:
    message = _outbound("reminder", ("carol", "<!channel>"), {"carol": ("carol", "U0CAROL", "carol@example.com")})
    shown = clock_notes.shown(message)
    assert shown == ["U0CAROL", "<!channel>"]
    text = clock_notes.reminder(APPROVAL, shown)["text"]
    assert "<@U0CAROL>" in text and "&lt;!channel&gt;" in text and "<!channel>" not in text
    assert "`restart_service` is still waiting" in text and "(1 of 2 approvals so far)" in text
    assert "use the buttons on the request" in text


def test_a_slack_escalation_names_who_may_now_decide() -> None:
    text = clock_notes.escalation(QUESTION, ["U0DAVE", "dave@example.com"])["text"]
    assert "<@U0DAVE>, dave@example.com may now answer it too" in text and "reply in this thread" in text


def test_a_reminder_mail_says_why_above_the_request() -> None:
    mail = EmailMessage()
    mail["Subject"] = "Re: restart"
    mail.set_content("Approval needed: restart_service\n\nRequest r1")
    with_intro(mail, reminder_intro(APPROVAL, ["carol"]))
    body = mail.get_content()
    assert body.startswith("Reminder: This approval request is still waiting for an answer from carol (1 of 2")
    assert "Approval needed: restart_service" in body and mail["Subject"] == "Re: restart"
    assert escalation_intro(QUESTION) == (
        "Escalated to you: nobody answered this question in time, so you may now answer it too."
    )
