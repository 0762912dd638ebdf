"""Approvals and questions for any program: `POST /api/approvals`, `POST /api/questions`, and their results.

A program with no agent here asks a human through Signoff: the request goes out as the same Slack
card and mails an agent's would, is decided under the same rules (only its approvers, one decision
wins, bound to the digest of what was shown), and its outcome comes back by polling, by long poll
(`?wait=30`) or by a signed POST to `callback_url` (bot/callbacks.py). Storage: storage/standalone.py.

    POST /api/approvals   {action, arguments?, reason?, approvers | policy, channel?, slack_channel?,
                           subject?, expire_after?, callback_url?, callback_secret?, idempotency_key?,
                           requested_by?, editable?, required?}
    POST /api/questions   {question, options?, answerers | policy, ...the same}
    GET  /api/approvals/{id}?wait=30, GET /api/questions/{id}?wait=30

A token reads only the requests it made (another's answer 404, as if they did not exist): the
service token (SIGNOFF_API_TOKEN) its own, each personal token (`signoff tokens create NAME`) its
owner's. Deciding is the people's: over the API with their own token (`/api/requests/{id}/decision`).
`required` asks for that many distinct approvals (N of M), counted as for an agent's requests.
"""

from __future__ import annotations

import logging
import secrets
from datetime import timedelta
from typing import Annotated, Any, Literal

from fastapi import FastAPI, Header, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator

from bot.agent_webhook import WEBHOOK_CHANNEL
from bot.callbacks import AgentWebhookChannel, CallbackChannel, callback_url_problem
from bot.http_identity import caller_of
from bot.long_poll import TooManyWaiters, Waiters
from bot.views import standalone_json
from channels.email.addresses import email_addresses
from channels.slack.identity import GROUP_ID
from storage.models import utcnow
from storage.standalone import StandaloneSpec
from storage.status import RequestKind

log = logging.getLogger(__name__)

MAX_TEXT = 20_000
MAX_WAIT = 60.0
MAX_EXPIRE = timedelta(days=90)
Identity = Annotated[str, Field(min_length=1, max_length=320)]
Wait = Annotated[float, Query(ge=0, le=MAX_WAIT, description="seconds to wait for a decision (long poll)")]
Key = Annotated[
    str | None,
    Header(alias="Idempotency-Key", max_length=200, description="a retry with the same key creates nothing"),
]


class _Common(BaseModel):
    model_config = ConfigDict(extra="forbid")
    policy: Literal["default"] | None = None
    channel: Literal["slack", "email", "api"] | None = None
    slack_channel: str | None = Field(default=None, pattern=r"^[CGDUW][A-Z0-9]{2,30}$")
    subject: str | None = Field(default=None, max_length=250)
    expire_after: timedelta | None = None
    callback_url: str | None = Field(default=None, max_length=2000)
    callback_secret: str | None = Field(default=None, min_length=16, max_length=200)
    idempotency_key: str | None = Field(default=None, min_length=1, max_length=200)
    requested_by: str | None = Field(default=None, min_length=1, max_length=320)

    @field_validator("expire_after")
    @classmethod
    def _expire(cls, value: timedelta | None) -> timedelta | None:
        if value is not None and not timedelta(0) < value <= MAX_EXPIRE:
            raise ValueError("expire_after must be more than 0 seconds and at most 90 days")
        return value


class ApprovalBody(_Common):
    action: str = Field(min_length=1, max_length=200)
    arguments: dict[str, Any] = Field(default_factory=dict)
    reason: str = Field(default="", max_length=MAX_TEXT)
    approvers: list[Identity] | None = Field(default=None, min_length=1, max_length=50)
    # An approver may change the arguments before approving (each keeps the JSON type it was given
    # as); the program must then run the `arguments` it reads back, as signoff_client does.
    editable: bool = False
    # N of M: how many distinct people among the approvers must approve (one denial ends it).
    required: int = Field(default=1, ge=1, le=20)


class QuestionBody(_Common):
    question: str = Field(min_length=1, max_length=MAX_TEXT)
    options: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(default_factory=list, max_length=20)
    answerers: list[Identity] | None = Field(default=None, min_length=1, max_length=50)
    # With options: whether an answer that is none of them is taken (false: only an option is).
    allow_free_text: bool = True

    @field_validator("options")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        stripped = [o.strip() for o in value]
        if any(not o for o in stripped):
            raise ValueError("an option may not be blank")
        if len({o.casefold() for o in stripped}) != len(stripped):
            raise ValueError("options must differ from each other")
        return stripped


class StandaloneService:
    """What the routes share with the rest of the server: the long polls. (Deadlines are expire
    timers, fired by the one clock: bot/timer_service.py.)"""

    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime
        self.settings = runtime.settings
        self.storage = runtime.storage
        self.waiters = Waiters(self.storage.decided_among, interval=max(self.settings.poll_interval, 0.5))
        runtime.core.on_decided = self.waiters.notify

    def people(self, names: list[str] | None, policy: str | None, what: str) -> list[str]:
        """Who may decide: the names given, or the default policy's (SIGNOFF_APPROVERS); 422 otherwise."""
        if (names is None) == (policy is None):
            raise HTTPException(422, f'name the {what} or a policy ("policy": "default"), not both')
        if names is not None:
            return list(dict.fromkeys(n.strip() for n in names if n.strip()))
        if not self.settings.approver_list:
            raise HTTPException(422, "the default policy names nobody: set SIGNOFF_APPROVERS, or name the people")
        return list(self.settings.approver_list)

    def channels(
        self, channel: str | None, slack_channel: str | None, people: list[str], *, thread_ts: str | None = None
    ) -> tuple[list[str], dict[str, Any]]:
        """The channels a request goes out on (`channel`, else every configured one that reaches
        someone in `people`) and where (its thread's origin data); 422 when none can."""
        settings = self.settings
        data: dict[str, Any] = {"standalone": True}
        if channel == "api":
            return [], data
        chosen: list[str] = []
        slack_people = [p for p in people if not email_addresses([p])]
        if channel in (None, "slack") and settings.slack_enabled and (slack_people or slack_channel):
            where = slack_channel or settings.slack_approvals_channel
            if where:
                chosen.append("slack")
                data.update(channel=where, thread_ts=thread_ts)
            elif channel == "slack":
                raise HTTPException(422, "name slack_channel (a channel or user id) or set SLACK_APPROVALS_CHANNEL")
        if channel in (None, "email") and settings.email_enabled and email_addresses(people):
            chosen.append("email")
        if channel is not None and channel not in chosen:
            raise HTTPException(
                422, f"{channel} is not configured here, or none of the people named can be reached by it"
            )
        if not chosen:
            raise HTTPException(
                422,
                "no channel reaches these people: configure Slack (with slack_channel or SLACK_APPROVALS_CHANNEL) "
                'or email, name Slack ids or email addresses, or say "channel": "api" to decide through the API',
            )
        return chosen, data


def setup_standalone(runtime: Any) -> StandaloneService:
    """The callback channel and the long polls (called by Runtime.build)."""
    service = StandaloneService(runtime)
    runtime.add_channel(
        "callback",
        CallbackChannel(
            runtime.storage,
            allowed_hosts=runtime.settings.callback_host_list,
            timeout=runtime.settings.callback_timeout,
            webhook_secret=secret.get_secret_value() if (secret := runtime.settings.webhook_secret) else None,
        ),
    )
    settings = runtime.settings
    if settings.webhook_url and settings.webhook_secret is not None:  # what people send an outside agent
        runtime.add_channel(
            WEBHOOK_CHANNEL,
            AgentWebhookChannel(
                settings.webhook_url, settings.webhook_secret.get_secret_value(), timeout=settings.callback_timeout
            ),
        )
    return service


def caller(request: Request) -> str:
    """Who made a request, for "only its creator reads it": the deployment's service token
    (SIGNOFF_API_TOKEN) is `service`; a personal token (`signoff tokens create NAME`, one per person
    or per program) is its owner, `person:<id>`, so two programs with tokens of their own never see
    each other's requests."""
    who = caller_of(request)
    return f"person:{who.person.id}" if who.kind == "person" else "service"


def requester(request: Request) -> str | None:
    """Who asks, shown to the approvers: a personal token's owner by name; None for the service token."""
    who = caller_of(request)
    return str(who.person.name) if who.kind == "person" else None


def add_approval_routes(app: FastAPI, runtime: Any, service: StandaloneService) -> None:
    settings = runtime.settings
    storage = runtime.storage

    async def create(
        kind: RequestKind, body: ApprovalBody | QuestionBody, request: Request, header_key: str | None
    ) -> JSONResponse:
        who = caller(request)
        if body.callback_url is not None:
            problem = callback_url_problem(body.callback_url, settings.callback_host_list)
            if problem is not None:
                raise HTTPException(422, problem)
        if isinstance(body, QuestionBody) and not body.allow_free_text and not body.options:
            raise HTTPException(422, "allow_free_text false needs options to choose from")
        if isinstance(body, ApprovalBody):
            people = service.people(body.approvers, body.policy, "approvers")
            if body.required > len(people) and not any(GROUP_ID.fullmatch(p) for p in people):
                raise HTTPException(422, f"required: {body.required} approvals, but only {len(people)} approvers named")
        else:
            people = service.people(body.answerers, body.policy, "answerers")
        chosen, origin_data = service.channels(body.channel, body.slack_channel, people)
        if isinstance(body, ApprovalBody):
            origin_data["subject"] = body.subject or f"Approval needed: {body.action}"
        else:
            origin_data["subject"] = body.subject or f"Question: {body.question.splitlines()[0][:120]}"
        generated = body.callback_url is not None and body.callback_secret is None
        secret = (secrets.token_urlsafe(32) if generated else body.callback_secret) if body.callback_url else None
        key = body.idempotency_key or header_key
        spec = StandaloneSpec(
            kind=kind,
            creator=who,
            allowed=people,
            channels=chosen,
            requested_by=body.requested_by or requester(request) or who,
            action=body.action if isinstance(body, ApprovalBody) else "",
            arguments=dict(body.arguments) if isinstance(body, ApprovalBody) else {},
            reason=body.reason if isinstance(body, ApprovalBody) else "",
            question=body.question if isinstance(body, QuestionBody) else "",
            options=list(body.options) if isinstance(body, QuestionBody) else [],
            origin_data=origin_data,
            idempotency_key=key,
            callback_url=body.callback_url,
            callback_secret=secret,
            expires_at=utcnow() + body.expire_after if body.expire_after else None,
            editable=body.editable if isinstance(body, ApprovalBody) else False,
            required=body.required if isinstance(body, ApprovalBody) else 1,
            allow_free_text=body.allow_free_text if isinstance(body, QuestionBody) else True,
        )
        created = await storage.create_standalone(spec)
        if not created.same:
            raise HTTPException(409, "this idempotency key was already used for a different request")
        result = standalone_json(created.standalone, created.request)
        if not created.created:
            return JSONResponse(result, status_code=200)
        log.info("standalone %s %s created by %s via %s", kind, created.request.id, who, ", ".join(chosen) or "api")
        runtime.core.wake_outbox()
        if generated:
            result["callback_secret"] = secret  # shown once: only its holder can check the callback
        return JSONResponse(result, status_code=201)

    async def read(kind: RequestKind, request_id: str, who: str, wait: float) -> dict[str, Any]:
        found = await storage.get_standalone(request_id)
        if found is None or found[0].creator != who or found[1].kind != kind:
            raise HTTPException(404, f"no {kind} {request_id}")
        if wait > 0 and found[1].status == "pending":
            try:
                await service.waiters.wait(request_id, wait)
            except TooManyWaiters as exc:
                raise HTTPException(503, str(exc), headers={"Retry-After": "5"}) from exc
            found = await storage.get_standalone(request_id)
            assert found is not None
        return standalone_json(*found)

    created_responses: dict[int | str, dict[str, Any]] = {
        200: {"description": "Already created with this idempotency key: the same request"}
    }

    @app.post("/api/approvals", status_code=201, responses=created_responses)
    async def create_approval(body: ApprovalBody, request: Request, idempotency_key: Key = None) -> JSONResponse:
        return await create(RequestKind.APPROVAL, body, request, idempotency_key)

    @app.post("/api/questions", status_code=201, responses=created_responses)
    async def create_question(body: QuestionBody, request: Request, idempotency_key: Key = None) -> JSONResponse:
        return await create(RequestKind.QUESTION, body, request, idempotency_key)

    @app.get("/api/approvals/{request_id}")
    async def get_approval(request_id: str, request: Request, wait: Wait = 0) -> dict[str, Any]:
        return await read(RequestKind.APPROVAL, request_id, caller(request), wait)

    @app.get("/api/questions/{request_id}")
    async def get_question(request_id: str, request: Request, wait: Wait = 0) -> dict[str, Any]:
        return await read(RequestKind.QUESTION, request_id, caller(request), wait)
