"""HumanLayer's API, served under `/humanlayer/v1`: the `humanlayer` SDKs work unchanged against Signoff.

Point them here with `HUMANLAYER_API_BASE=http://HOST:PORT/humanlayer/v1` and
`HUMANLAYER_API_KEY=<an API token>`. It is a second face of the same store of human requests as
`/api/approvals` (bot/approvals_api.py, storage/standalone.py): a function call is a standalone
approval, a contact request a standalone question, keyed by the client's `call_id` (creating the same
`call_id` again returns the first request; nothing is sent twice). The client's `run_id`, `call_id`,
`spec` (its `state` included) come back exactly as they were sent; `status` is Signoff's.

    POST /function_calls                          GET /function_calls/{call_id}
    POST /contact_requests                        GET /contact_requests/{call_id}
    POST /agent/function_calls/{call_id}/respond  POST /agent/human_contacts/{call_id}/respond
    POST /agent/.../escalate_email                GET /project

A decision through `respond` is made as the person whose token was used (a personal token, as on
`/api/requests/{id}/decision`; the service token is nobody and may not). `escalate_email` mails its
`escalation_msg` to the added recipients in the request's mail thread, records a `request_escalated`
event, and they may then decide by replying. What Signoff does not do is refused with a 4xx naming
the field, and nothing is sent: SMS and WhatsApp channels, a per-call Slack `bot_token`, an email
`template`. Errors carry a JSON body (`{"detail": ...}`): the Python SDK reads the body first.
"""

from __future__ import annotations

import logging
from typing import Any, TypeVar

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agent.events import DenyOption
from bot.approvals_api import StandaloneService, caller, requester
from bot.http_identity import DECISION_STATUS, caller_of, decider
from bot.humanlayer_views import function_call_json, human_contact_json
from channels.email.addresses import email_addresses
from storage.standalone import StandaloneSpec
from storage.status import RequestKind

log = logging.getLogger(__name__)

PREFIX = "/humanlayer/v1"
MAX_TEXT = 20_000
MESSAGE_ID = r"^<[^<>\s]{1,900}>$"


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore")


_M = TypeVar("_M", bound=_Lenient)


class SlackChannelIn(_Lenient):
    channel_or_user_id: str = Field(pattern=r"^[CGDUW][A-Z0-9]{2,30}$")
    context_about_channel_or_user: str | None = Field(default=None, max_length=1000)
    bot_token: str | None = None
    allowed_responder_ids: list[str] | None = Field(default=None, min_length=1, max_length=50)
    thread_ts: str | None = Field(default=None, pattern=r"^\d{1,12}\.\d{1,9}$")


class EmailRecipientIn(_Lenient):
    address: str = Field(max_length=320)
    field: str | None = None


class EmailChannelIn(_Lenient):
    address: str = Field(max_length=320)
    additional_recipients: list[EmailRecipientIn] | None = Field(default=None, max_length=20)
    subject: str | None = Field(default=None, max_length=250)
    template: str | None = None
    # So the request lands in the human's existing thread (an agent_email.received's message_id).
    in_reply_to_message_id: str | None = Field(default=None, pattern=MESSAGE_ID)
    references_message_id: str | None = Field(default=None, pattern=MESSAGE_ID)


class ChannelIn(_Lenient):
    slack: SlackChannelIn | None = None
    email: EmailChannelIn | None = None
    sms: dict[str, Any] | None = None
    whatsapp: dict[str, Any] | None = None


class EscalationIn(_Lenient):
    escalation_msg: str = Field(min_length=1, max_length=MAX_TEXT)
    additional_recipients: list[EmailRecipientIn] | None = Field(default=None, max_length=20)
    channel: ChannelIn | None = None


class CallIn(_Lenient):
    run_id: str = Field(min_length=1, max_length=200)
    call_id: str = Field(min_length=1, max_length=180)
    spec: dict[str, Any]


class FunctionSpecIn(_Lenient):
    fn: str = Field(min_length=1, max_length=200)
    kwargs: dict[str, Any] = Field(default_factory=dict)
    channel: ChannelIn | None = None
    reject_options: list[dict[str, Any]] | None = Field(default=None, max_length=20)


class FunctionStatusIn(_Lenient):
    approved: bool | None = None
    comment: str | None = Field(default=None, max_length=MAX_TEXT)
    reject_option_name: str | None = Field(default=None, max_length=200)


class ContactStatusIn(_Lenient):
    response: str | None = Field(default=None, max_length=MAX_TEXT)


class ContactSpecIn(_Lenient):
    msg: str = Field(min_length=1, max_length=MAX_TEXT)
    subject: str | None = Field(default=None, max_length=250)
    channel: ChannelIn | None = None
    response_options: list[dict[str, Any]] | None = Field(default=None, max_length=20)


def _parsed(model: type[_M], body: dict[str, Any], where: str = "spec") -> _M:
    """`body` as `model`, or a 422 that names each field that is wrong."""
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        problems = "; ".join(f"{where}.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise HTTPException(422, problems) from exc


def response_options(given: list[dict[str, Any]], field: str = "response_options") -> list[str]:
    """A contact request's `response_options` as the choices people see (each one's title, else its
    name); 422 for one with no name or two that read the same. HumanLayer takes free text as well."""
    shown: list[str] = []
    for n, option in enumerate(given):
        name = option.get("name")
        if not isinstance(name, str) or not name.strip() or len(name) > 200:
            raise HTTPException(422, f"spec.{field}.{n}.name: a name of 1 to 200 characters is required")
        title = option.get("title")
        text = (title if isinstance(title, str) and title.strip() else name).strip()[:200]
        if text.casefold() in {s.casefold() for s in shown}:
            raise HTTPException(422, f"spec.{field}.{n}: another option already reads {text!r}")
        shown.append(text)
    return shown


def reject_options(given: list[dict[str, Any]]) -> tuple[DenyOption, ...]:
    """A function call's `reject_options` as named ways to deny: shown by title (else name); one
    with `interactive` asks for a comment prefilled with its `prompt_fill`, one without denies at
    once with its `prompt_fill` (else its title) as the comment. 422 as for `response_options`."""
    shown = response_options(given, "reject_options")
    options = []
    for option, label in zip(given, shown, strict=True):
        fill = option.get("prompt_fill")
        comment = fill.strip()[:MAX_TEXT] if isinstance(fill, str) else ""
        ask = option.get("interactive") is True
        options.append(DenyOption(name=option["name"], label=label, comment=comment, ask=ask))
    return tuple(options)


def _key(call_id: str) -> str:
    return f"humanlayer:{call_id}"


def add_humanlayer_routes(app: FastAPI, runtime: Any, service: StandaloneService) -> None:
    storage = runtime.storage
    settings = runtime.settings

    def refuse_unsupported(channel: ChannelIn | None) -> None:
        if channel is None:
            return
        for name in ("sms", "whatsapp"):
            if getattr(channel, name) is not None:
                raise HTTPException(422, f"channel.{name}: Signoff reaches people in Slack and by email only")
        if channel.slack is not None and channel.slack.bot_token:
            raise HTTPException(422, "channel.slack.bot_token: Signoff posts with its own bot (SLACK_BOT_TOKEN)")
        if channel.email is not None and channel.email.template:
            raise HTTPException(422, "channel.email.template: Signoff writes its own mail")

    def routing(channel: ChannelIn | None, kind: RequestKind) -> tuple[list[str], list[str], dict[str, Any]]:
        """(who may decide, the channels, where) for a HumanLayer contact channel."""
        refuse_unsupported(channel)
        if channel is not None and channel.slack is not None:
            slack = channel.slack
            people = list(slack.allowed_responder_ids or []) or service.people(None, "default", "approvers")
            chosen, data = service.channels("slack", slack.channel_or_user_id, people, thread_ts=slack.thread_ts)
            return people, chosen, data
        if channel is not None and channel.email is not None:
            email = channel.email
            people = [email.address, *(r.address for r in email.additional_recipients or [])]
            chosen, data = service.channels("email", None, people)
            if email.subject:
                data["subject"] = email.subject
            if email.in_reply_to_message_id:  # threaded under that message (channels/email/threads.py)
                data["in_reply_to"] = email.in_reply_to_message_id
            refs = [email.references_message_id, email.in_reply_to_message_id]
            data["references"] = list(dict.fromkeys(r for r in refs if r))
            return people, chosen, data
        people = service.people(None, "default", "approvers" if kind == RequestKind.APPROVAL else "answerers")
        chosen, data = service.channels(None, None, people)
        return people, chosen, data

    async def create(body: CallIn, kind: RequestKind, who: str) -> JSONResponse:
        existing = await storage.standalone_by_key(who, _key(body.call_id))
        render = function_call_json if kind == RequestKind.APPROVAL else human_contact_json
        if existing is not None:  # the same call_id again: the first request, nothing sent
            if existing[1].kind != kind:
                raise HTTPException(409, f"call_id {body.call_id} is already used by another kind of request")
            return JSONResponse(render(*existing), status_code=200)
        try:
            spec: FunctionSpecIn | ContactSpecIn = (
                FunctionSpecIn.model_validate(body.spec)
                if kind == RequestKind.APPROVAL
                else ContactSpecIn.model_validate(body.spec)
            )
        except ValidationError as exc:
            problems = "; ".join(f"spec.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
            raise HTTPException(422, problems) from exc
        people, chosen, data = routing(spec.channel, kind)
        if isinstance(spec, FunctionSpecIn):
            context = spec.channel.slack.context_about_channel_or_user if spec.channel and spec.channel.slack else None
            data.setdefault("subject", f"Approval needed: {spec.fn}")
            fields: dict[str, Any] = {
                "action": spec.fn,
                "arguments": dict(spec.kwargs),
                "reason": context or "",
                "deny_options": reject_options(spec.reject_options or []),
            }
        else:
            options = response_options(spec.response_options or [])
            data.setdefault("subject", spec.subject or f"Question: {spec.msg.splitlines()[0][:120]}")
            fields = {"question": spec.msg, "options": [o for o in options if o]}
        created = await storage.create_standalone(
            StandaloneSpec(
                kind=kind,
                creator=who,
                allowed=people,
                channels=chosen,
                requested_by=body.run_id,
                origin_data=data,
                idempotency_key=_key(body.call_id),
                external={
                    "run_id": body.run_id,
                    "call_id": body.call_id,
                    "spec": body.spec,
                    "webhook": bool(settings.webhook_url),
                },
                callback_url=settings.webhook_url,
                **fields,
            )
        )
        if created.created:
            log.info("humanlayer %s %s (%s) created via %s", kind, body.call_id, created.request.id, ", ".join(chosen))
            runtime.core.wake_outbox()
        return JSONResponse(render(created.standalone, created.request), status_code=200)

    async def read(call_id: str, kind: RequestKind, who: str) -> dict[str, Any]:
        found = await storage.standalone_by_key(who, _key(call_id))
        if found is None or found[1].kind != kind:
            raise HTTPException(404, f"no {'function call' if kind == RequestKind.APPROVAL else 'contact'} {call_id}")
        return function_call_json(*found) if kind == RequestKind.APPROVAL else human_contact_json(*found)

    async def respond(call_id: str, kind: RequestKind, body: dict[str, Any], request: Request) -> dict[str, Any]:
        """A decision through the API, made as the person whose token this is (as on /api/requests)."""
        who = caller(request)
        found = await storage.standalone_by_key(who, _key(call_id))
        if found is None or found[1].kind != kind:
            raise HTTPException(404, f"no {'function call' if kind == RequestKind.APPROVAL else 'contact'} {call_id}")
        person = caller_of(request)
        if person.kind != "person":
            raise HTTPException(
                403,
                "this token belongs to no person, so it may not decide: the people asked decide in Slack, by mail, "
                "with their own token (signoff tokens create PERSON), or with `signoff approve` / `signoff answer`",
            )
        by, proof = decider(person, None, False)
        request_id = found[1].id
        if kind == RequestKind.APPROVAL:
            status = _parsed(FunctionStatusIn, body, "status")
            if status.approved is None:
                raise HTTPException(422, "status.approved: true or false")
            if status.reject_option_name is not None and status.approved:
                raise HTTPException(422, "status.reject_option_name: only with approved false")
            decision = await runtime.core.decide(
                request_id,
                approve=status.approved,
                by=by,
                comment=status.comment or "",
                proof=proof,
                deny_option=status.reject_option_name,
            )
        else:
            answer = _parsed(ContactStatusIn, body, "status")
            if not answer.response:
                raise HTTPException(422, "status.response: the answer's text")
            decision = await runtime.core.answer(request_id, answer=answer.response, by=by, proof=proof)
        if decision.status != "accepted":
            raise HTTPException(DECISION_STATUS.get(decision.status, 400), decision.message)
        return await read(call_id, kind, who)

    @app.post(f"{PREFIX}/function_calls")
    async def create_function_call(body: CallIn, request: Request) -> JSONResponse:
        return await create(body, RequestKind.APPROVAL, caller(request))

    @app.get(f"{PREFIX}/function_calls/{{call_id}}")
    async def get_function_call(call_id: str, request: Request) -> dict[str, Any]:
        return await read(call_id, RequestKind.APPROVAL, caller(request))

    @app.post(f"{PREFIX}/contact_requests")
    async def create_contact_request(body: CallIn, request: Request) -> JSONResponse:
        return await create(body, RequestKind.QUESTION, caller(request))

    @app.get(f"{PREFIX}/contact_requests/{{call_id}}")
    async def get_contact_request(call_id: str, request: Request) -> dict[str, Any]:
        return await read(call_id, RequestKind.QUESTION, caller(request))

    # The SDKs send a status as the body: `FunctionCallStatus` / `HumanContactStatus`.
    @app.post(f"{PREFIX}/agent/function_calls/{{call_id}}/respond")
    async def respond_function_call(call_id: str, body: dict[str, Any], request: Request) -> dict[str, Any]:
        return await respond(call_id, RequestKind.APPROVAL, body, request)

    @app.post(f"{PREFIX}/agent/human_contacts/{{call_id}}/respond")
    async def respond_human_contact(call_id: str, body: dict[str, Any], request: Request) -> dict[str, Any]:
        return await respond(call_id, RequestKind.QUESTION, body, request)

    async def escalate(call_id: str, kind: RequestKind, body: dict[str, Any], request: Request) -> dict[str, Any]:
        """Mail the request to more people, in its mail thread, with the escalation's message; they
        may decide from now on (a `request_escalated` event on its thread)."""
        who = caller(request)
        found = await storage.standalone_by_key(who, _key(call_id))
        if found is None or found[1].kind != kind:
            raise HTTPException(404, f"no {'function call' if kind == RequestKind.APPROVAL else 'contact'} {call_id}")
        escalation = _parsed(EscalationIn, body, "escalation")
        refuse_unsupported(escalation.channel)
        if escalation.channel is not None and escalation.channel.slack is not None:
            raise HTTPException(422, "escalation.channel.slack: escalate_email escalates by email only")
        recipients = [r.address for r in escalation.additional_recipients or []]
        if escalation.channel is not None and escalation.channel.email is not None:
            email = escalation.channel.email
            recipients += [email.address, *(r.address for r in email.additional_recipients or [])]
        recipients = list(dict.fromkeys(a.strip() for a in recipients if a.strip()))
        if not recipients:
            raise HTTPException(422, "escalation.additional_recipients: name who to escalate to (or channel.email)")
        bad = [a for a in recipients if not email_addresses([a])]
        if bad:
            raise HTTPException(422, f"escalation.additional_recipients: not email addresses: {', '.join(bad)[:300]}")
        if not settings.email_enabled:
            raise HTTPException(422, "escalate_email: email is not configured here (SIGNOFF_EMAIL_ADDRESS, IMAP, SMTP)")
        outcome = await storage.escalate_standalone(
            found[1].id, recipients, message=escalation.escalation_msg, by=requester(request) or who
        )
        if outcome != "escalated":
            raise HTTPException(409, f"{call_id} was already decided; there is nothing to escalate")
        log.info("humanlayer %s %s escalated to %s", kind, call_id, ", ".join(recipients))
        runtime.core.wake_outbox()
        return await read(call_id, kind, who)

    @app.post(f"{PREFIX}/agent/function_calls/{{call_id}}/escalate_email")
    async def escalate_function_call(call_id: str, body: dict[str, Any], request: Request) -> dict[str, Any]:
        return await escalate(call_id, RequestKind.APPROVAL, body, request)

    @app.post(f"{PREFIX}/agent/human_contacts/{{call_id}}/escalate_email")
    async def escalate_human_contact(call_id: str, body: dict[str, Any], request: Request) -> dict[str, Any]:
        return await escalate(call_id, RequestKind.QUESTION, body, request)

    @app.get(f"{PREFIX}/project")
    async def project() -> dict[str, Any]:
        return {"project": settings.email_address or runtime.agent.name, "org": "signoff"}
