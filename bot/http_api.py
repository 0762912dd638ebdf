"""The HTTP server: the JSON API (bearer token), health and metrics. Channels add their routes.

Every request body is capped at SIGNOFF_MAX_BODY_BYTES (413, never read past the cap), and the API's
token is checked before its body is read (`bot.http_auth`). The OpenAPI schema is behind the token
too; there is no /docs page (it would load its scripts from a CDN).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Header, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from bot.approvals_api import add_approval_routes
from bot.audit import AuditFilter, AuditFilterError, parse_since, parse_types
from bot.audit import records as audit_records
from bot.audit import render as render_audit
from bot.grants_api import add_grant_routes
from bot.http_auth import BearerGuard, bearer_problem
from bot.http_identity import DECISION_RESPONSES, acting_as, caller_of, decider, personal_token_check
from bot.http_identity import DECISION_STATUS as DECISION_STATUS  # where bot/web reads it
from bot.humanlayer_api import add_humanlayer_routes
from bot.metrics import TimeSlackAcks
from bot.outage_log import OutageLog
from bot.runtime import Runtime
from bot.thread_watch import ThreadWatch
from bot.views import clock_json, request_json, thread_json
from channels.base import Edit, GrantAsk
from storage import migrate
from storage.errors import DatabaseUnavailable

log = logging.getLogger(__name__)

MAX_TEXT = 20_000
MAX_WAIT = 60.0  # seconds a long poll may hold a request


class LaunchBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    message: str = Field(min_length=1, max_length=MAX_TEXT)
    agent: str | None = Field(default=None, max_length=200)
    # With a personal token the token's owner asks (`by`, if given, must name them); with the
    # service token, `by` names who asks (default "api").
    by: str | None = Field(default=None, min_length=1, max_length=320)


class GrantBody(BaseModel):
    """ "Approve, and allow the same ...": `thread` (this thread), `duration` (any thread) or
    `arguments` (these exact arguments), until `until` (default: the longest the tool allows)."""

    model_config = ConfigDict(extra="forbid")
    scope: Literal["thread", "duration", "arguments"]
    until: datetime | None = None


class DecisionBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    decision: Literal["approve", "deny"]
    comment: str = Field(default="", max_length=MAX_TEXT)
    # The token decides who decides: with a personal token `by` may be left out (if given, it must
    # name the token's owner); the service token needs it, where an operator allowed it to decide.
    by: str | None = Field(default=None, min_length=1, max_length=320)
    grant: GrantBody | None = None
    # Approve with these arguments changed (the others keep their values): checked against the
    # request's `edit_schema`; what runs is the edited call (422 when they do not fit).
    arguments: dict[str, Any] | None = Field(default=None, max_length=100)


class AnswerBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    answer: str = Field(min_length=1, max_length=MAX_TEXT)
    by: str | None = Field(default=None, min_length=1, max_length=320)


def create_app(runtime: Runtime) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        async with runtime.running():
            yield

    app = FastAPI(
        title="Signoff",
        version="0.1.0",
        lifespan=lifespan,
        max_body_size=runtime.settings.max_body_bytes,
        docs_url=None,
        redoc_url=None,
    )
    app.state.runtime = runtime
    for mount in runtime.mounts:
        mount(app)
    from bot.web import mount_web  # imports http_api's constants: imported here, not at the top

    app.state.web = mount_web(app, runtime)
    token = runtime.settings.api_token.get_secret_value() if runtime.settings.api_token else None
    app.add_middleware(BearerGuard, token=token, check_token=personal_token_check(runtime.storage))
    app.add_middleware(TimeSlackAcks, histogram=runtime.metrics.ack_seconds)

    def authorized(request: Request) -> None:
        # BearerGuard already answered 401 for /api/*; this covers a route mounted elsewhere with `api`.
        if getattr(request.state, "signoff_caller", None) is not None:
            return
        problem = bearer_problem(request.headers.get("authorization", ""), token)
        if problem is not None:
            raise HTTPException(401, problem, headers={"WWW-Authenticate": "Bearer"})

    api = [Depends(authorized)]
    storage = runtime.storage
    core = runtime.core

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [{"where": ".".join(str(p) for p in e["loc"]), "problem": e["msg"]} for e in exc.errors()]
        return JSONResponse({"detail": "invalid request", "problems": problems}, status_code=422)

    @app.exception_handler(DatabaseUnavailable)
    async def _db_down(_request: Request, exc: DatabaseUnavailable) -> JSONResponse:
        return JSONResponse(
            {"detail": f"database unavailable, try again: {exc}"}, status_code=503, headers={"Retry-After": "5"}
        )

    @app.post(
        "/api/threads",
        status_code=201,
        dependencies=api,
        responses={200: {"description": "Already launched with this Idempotency-Key: the same thread"}},
    )
    async def launch(
        request: Request,
        body: LaunchBody,
        idempotency_key: Annotated[
            str | None,
            Header(
                max_length=200,
                description="Retry-safe launches: a second request with the same key starts nothing "
                "and answers 200 with the first request's thread.",
            ),
        ] = None,
    ) -> Any:
        if body.agent is not None and body.agent not in core.agents:
            raise HTTPException(404, f"no agent {body.agent!r}; this server runs {', '.join(core.agents)}")
        receipt_key = f"api:{idempotency_key}" if idempotency_key else None
        caller = caller_of(request)
        by = acting_as(caller, body.by) if caller.kind == "person" else (body.by or "api")
        row = await core.launch(body.message, by=by, channel="api", receipt_key=receipt_key, agent=body.agent)
        if row is None:
            assert receipt_key is not None
            thread_id = await storage.receipt_thread(receipt_key)
            existing = await storage.get_thread(thread_id) if thread_id else None
            if existing is None:
                raise HTTPException(409, "this Idempotency-Key was already used")
            return JSONResponse({"id": existing.id, "status": existing.status}, status_code=200)
        return {"id": row.id, "status": row.status, "agent": row.agent}

    @app.get("/api/threads", dependencies=api)
    async def list_threads(
        status: Annotated[Literal["running", "waiting", "done", "failed"] | None, Query()] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> dict[str, Any]:
        rows = await storage.list_threads(status=status, limit=limit)
        return {"threads": [thread_json(r) for r in rows]}

    watch = ThreadWatch(storage)

    @app.get("/api/threads/{thread_id}", dependencies=api)
    async def get_thread(
        thread_id: str,
        wait: Annotated[
            float,
            Query(
                ge=0,
                le=MAX_WAIT,
                description="Long poll: answer once the status is not `status` (or now, after this many seconds)",
            ),
        ] = 0,
        status: Annotated[
            Literal["running", "waiting", "done", "failed"] | None,
            Query(description="With `wait`: the status the caller knows (default: the thread's status now)"),
        ] = None,
    ) -> dict[str, Any]:
        row = await storage.get_thread(thread_id)
        if row is None:
            raise HTTPException(404, f"no thread {thread_id}")
        if wait > 0 and row.status == (status or row.status):
            if await watch.changed(thread_id, row.status, wait) is not None:
                row = await storage.get_thread(thread_id)
                assert row is not None
        events = await storage.stored_events(thread_id)
        body = thread_json(row, events)
        outbox = await storage.outbox_for_thread(thread_id)
        body["deliveries"] = [
            {
                "id": o.id,
                "channel": o.channel,
                "kind": o.kind,
                "status": o.status,
                "attempts": o.attempts,
                "error": o.last_error or None,
            }
            for o in outbox
        ]
        return body

    @app.get("/api/requests", dependencies=api)
    async def list_requests(
        status: Annotated[Literal["pending", "approved", "denied", "answered", "expired"] | None, Query()] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> dict[str, Any]:
        rows = await storage.list_requests(status=status, limit=limit)
        return {"requests": [request_json(r) for r in rows]}

    @app.get("/api/requests/{request_id}", dependencies=api)
    async def get_request(request_id: str) -> dict[str, Any]:
        row = await storage.get_request(request_id)
        if row is None:
            raise HTTPException(404, f"no request {request_id}")
        return {**request_json(row), "clock": clock_json(await storage.timers_for(request_id))}

    may_decide = runtime.settings.api_token_may_decide

    @app.post(
        "/api/requests/{request_id}/decision",
        dependencies=api,
        responses=DECISION_RESPONSES,
    )
    async def decide(request: Request, request_id: str, body: DecisionBody) -> dict[str, Any]:
        by, proof = decider(caller_of(request), body.by, may_decide)
        grant = GrantAsk(body.grant.scope, until=body.grant.until) if body.grant else None
        edit = Edit(dict(body.arguments)) if body.arguments is not None else None
        decision = await core.decide(
            request_id,
            approve=body.decision == "approve",
            by=by,
            comment=body.comment,
            proof=proof,
            edit=edit,
            grant=grant,
        )
        if decision.status != "accepted":
            raise HTTPException(DECISION_STATUS.get(decision.status, 400), decision.message)
        row = await storage.get_request(request_id)
        assert row is not None
        return {**request_json(row), **({"message": decision.message} if decision.message else {})}

    @app.post("/api/requests/{request_id}/answer", dependencies=api, responses=DECISION_RESPONSES)
    async def answer(request: Request, request_id: str, body: AnswerBody) -> dict[str, Any]:
        by, proof = decider(caller_of(request), body.by, may_decide)
        decision = await core.answer(request_id, answer=body.answer, by=by, proof=proof)
        if decision.status != "accepted":
            raise HTTPException(DECISION_STATUS.get(decision.status, 400), decision.message)
        row = await storage.get_request(request_id)
        assert row is not None
        return request_json(row)

    @app.get(
        "/api/audit",
        dependencies=api,
        response_class=Response,
        responses={200: {"content": {"application/x-ndjson": {}, "text/csv": {}}}, 422: {"description": "bad filter"}},
    )
    async def audit(
        since: Annotated[str | None, Query(max_length=64, description="7d, 12h, 30m, or an ISO 8601 date")] = None,
        person: Annotated[str | None, Query(max_length=320)] = None,
        tool: Annotated[str | None, Query(max_length=200)] = None,
        thread: Annotated[str | None, Query(max_length=64)] = None,
        format: Annotated[Literal["jsonl", "csv"], Query()] = "jsonl",  # noqa: A002 (the query's name)
        limit: Annotated[int, Query(ge=1, le=100_000)] = 10_000,
        type: Annotated[  # noqa: A002 (the query's name)
            str | None, Query(max_length=400, description="event types, e.g. request_reminded,request_expired")
        ] = None,
    ) -> Response:
        try:
            when = parse_since(since, datetime.now(UTC))
            wanted = AuditFilter(when, person, tool, thread, limit, types=parse_types(type))
            rows = await storage.run(audit_records, storage.store, wanted)
        except AuditFilterError as exc:
            raise HTTPException(422, str(exc)) from exc
        media = "text/csv; charset=utf-8" if format == "csv" else "application/x-ndjson"
        return Response("".join(render_audit(rows, format)), media_type=media)

    add_grant_routes(app, runtime, api)
    if runtime.standalone is not None:
        add_approval_routes(app, runtime, runtime.standalone)
        add_humanlayer_routes(app, runtime, runtime.standalone)

    health_outage = OutageLog(log, "database (seen by /healthz)")

    @app.get("/healthz")
    async def healthz() -> JSONResponse:
        try:
            await storage.list_threads(limit=1)
        except Exception as exc:
            # The detail (host, database, driver message) goes to the log, never to an anonymous caller.
            health_outage.failed(exc)
            return JSONResponse({"status": "unhealthy", "database": "unavailable"}, status_code=503)
        health_outage.succeeded()
        return JSONResponse({"status": "ok", "agent": runtime.agent.name, "model": runtime.settings.model})

    ready_outage = OutageLog(log, "database (seen by /readyz)")

    @app.get("/readyz")
    async def readyz() -> JSONResponse:
        """Ready for traffic: the database answers and its schema is one this code serves on (at its
        head, or newer by an expand). No token, like /healthz; the reason never carries the URL."""
        try:
            schema = await storage.run(migrate.inspect, runtime.db)
        except Exception as exc:
            ready_outage.failed(exc)
            return JSONResponse({"status": "unready", "reason": "database unavailable"}, status_code=503)
        ready_outage.succeeded()
        body = {
            "status": "ready" if schema.usable else "unready",
            "schema": schema.state.value,
            "revision": schema.revision,
            "head": schema.head,
        }
        if not schema.usable:
            body["reason"] = schema.problem("the configured database") or schema.state.value
            return JSONResponse(body, status_code=503)
        return JSONResponse(body)

    @app.get("/metrics")
    async def metrics() -> Response:
        body = await storage.run(runtime.metrics.render)  # it counts threads by status: a query
        return Response(body, media_type="text/plain; version=0.0.4; charset=utf-8")

    return app
