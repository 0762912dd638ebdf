"""Programs that ask people through Signoff authenticate with tokens of their own (`signoff tokens
create NAME`, one per program or person) as well as the service token, and a token reads only the
requests it made: another program's answer 404 (on `/api/approvals` and on HumanLayer's face, where
the same `call_id` is two requests), and a token whose owner was not asked may not decide (403).

A separate process uses `signoff_client` with a program's token against a real `signoff serve`
(email through Dovecot + aiosmtpd) and gets Alice's approval, given by an email reply. Through
HumanLayer's `respond`, a decision is made as the person whose token was used."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import httpx

from storage.models import utcnow
from tests.support.email_signoff import EmailSignoff, MakeEmailBot, body_of, reply, request_id_of, sent_to
from tests.support.people import ROOT, directory
from tests.support.signoff_process import wait_until
from tests.support.smtp_server import SmtpServer

ALICE = "alice@example.com"
PROGRAM = """
import json, sys
from signoff_client import Signoff
approval = Signoff(sys.argv[1], sys.argv[2]).request_approval(
    "restart", {"service": "payments"}, approvers=[sys.argv[3]], channel="email", timeout=90
)
print(json.dumps({"status": approval.status, "by": approval.decided_by, "raw": approval.raw}))
"""


def test_a_program_with_its_own_token_gets_an_email_approval_no_other_token_sees_it(
    make_email_bot: MakeEmailBot, smtp: SmtpServer, tmp_path: Path
) -> None:
    people = directory(f"sqlite:///{tmp_path / 'signoff.db'}")
    for program in ("deployer", "reporter"):
        people.store.add_person(program)
        people.tokens[program], _row = people.store.create_token(program, expires_at=utcnow() + timedelta(days=1))
    bot: EmailSignoff = make_email_bot()
    deployer, reporter = (bot.process.client(people.tokens[n]) for n in ("deployer", "reporter"))
    service = bot.process.client()
    try:
        program = subprocess.Popen(
            [sys.executable, "-c", PROGRAM, bot.process.url, people.tokens["deployer"], ALICE],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            [asked] = bot.wait_sent(1, sent_to(ALICE))
            request_id = request_id_of(asked)
            assert "restart" in body_of(asked) and "payments" in body_of(asked)

            # Nobody else's token sees it, and one whose owner was not asked may not decide it.
            for other in (reporter, service):
                assert other.get(f"/api/approvals/{request_id}").status_code == 404
            refused = reporter.post(f"/api/requests/{request_id}/decision", json={"decision": "approve"})
            assert refused.status_code == 403, refused.text
            own = deployer.get(f"/api/approvals/{request_id}")
            assert own.status_code == 200 and own.json()["requested_by"] == "deployer"

            bot.send(reply(asked.message, ALICE, "approve\n\nAlice"))
            out, err = program.communicate(timeout=120)
        finally:
            if program.poll() is None:
                program.kill()
                program.wait(10)
        assert program.returncode == 0, err
        result = json.loads(out)
        assert (result["status"], result["by"], result["raw"]["id"]) == ("approved", ALICE, request_id)

        # The service token and personal tokens make requests side by side; a revoked token makes none.
        body = {"question": "Which region?", "answerers": [ALICE], "channel": "api"}
        mine = service.post("/api/questions", json=body)
        assert mine.status_code == 201 and service.get(f"/api/questions/{mine.json()['id']}").status_code == 200
        assert deployer.get(f"/api/questions/{mine.json()['id']}").status_code == 404
        assert bot.process.client(people.revoked).post("/api/questions", json=body).status_code == 401
    finally:
        for client in (deployer, reporter, service):
            client.close()


def test_humanlayer_call_ids_belong_to_their_token_and_respond_decides_as_its_owner(
    make_email_bot: MakeEmailBot, smtp: SmtpServer, tmp_path: Path
) -> None:
    people = directory(f"sqlite:///{tmp_path / 'signoff.db'}")
    bot: EmailSignoff = make_email_bot()
    alice, bob = (bot.process.client(people.tokens[n]) for n in ("alice", "bob"))
    service = bot.process.client()
    base = "/humanlayer/v1"
    try:

        def create(client: httpx.Client, fn: str) -> None:
            spec = {"fn": fn, "kwargs": {"v": 1}, "channel": {"email": {"address": ALICE}}}
            response = client.post(f"{base}/function_calls", json={"run_id": "r1", "call_id": "same", "spec": spec})
            assert response.status_code == 200, response.text

        create(alice, "deploy")
        create(bob, "rollback")  # the same call_id, another token: another request
        bot.wait_sent(2, sent_to(ALICE))
        assert alice.get(f"{base}/function_calls/same").json()["spec"]["fn"] == "deploy"
        assert bob.get(f"{base}/function_calls/same").json()["spec"]["fn"] == "rollback"
        assert service.get(f"{base}/function_calls/same").status_code == 404

        # Bob was not asked: his token may not decide his own call; the service token is nobody.
        status = {"approved": True, "comment": "go"}
        assert bob.post(f"{base}/agent/function_calls/same/respond", json=status).status_code == 403
        assert service.post(f"{base}/agent/function_calls/missing/respond", json=status).status_code == 404
        decided = alice.post(f"{base}/agent/function_calls/same/respond", json=status)
        assert decided.status_code == 200, decided.text
        assert decided.json()["status"]["approved"] is True and decided.json()["status"]["comment"] == "go"
        again = alice.post(f"{base}/agent/function_calls/same/respond", json={"approved": False, "comment": "no"})
        assert again.status_code == 409 and "detail" in again.json()
        [row] = [r for r in service.get("/api/requests").json()["requests"] if r["tool"] == "deploy"]
        assert row["decided_by"] == "alice" and row["status"] == "approved"

        # A denial through respond may name one of the call's reject_options (its title the comment).
        options = [{"name": "later", "title": "Not now"}]
        spec = {"fn": "purge", "kwargs": {}, "channel": {"email": {"address": ALICE}}, "reject_options": options}
        assert alice.post(f"{base}/function_calls", json={"run_id": "r1", "call_id": "opt", "spec": spec}).is_success
        respond = f"{base}/agent/function_calls/opt/respond"
        assert alice.post(respond, json={"approved": False, "reject_option_name": "never"}).status_code == 422
        assert alice.post(respond, json={"approved": True, "reject_option_name": "later"}).status_code == 422
        denied = alice.post(respond, json={"approved": False, "reject_option_name": "later"})
        assert denied.status_code == 200, denied.text
        assert (denied.json()["status"]["reject_option_name"], denied.json()["status"]["comment"]) == (
            "later",
            "Not now",
        )
        wait_until(lambda: bot.sent(lambda m: "Approved by" in body_of(m)), message="the outcome mailed")
    finally:
        for client in (alice, bob, service):
            client.close()
