"""`GET /api/grants`, `GET /api/grants/{id}`, `DELETE /api/grants/{id}`: standing grants over the API.

Anyone with a token may list them. A revocation is made as the person whose token was used (the
grant's giver, or an approver of its tool); the service token revokes only where an operator let
it decide (`SIGNOFF_API_TOKEN_MAY_DECIDE`), as the `by` it names.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import FastAPI, HTTPException, Query, Request

from bot.grant_admin import grant_json, revoke
from bot.http_identity import caller_of, decider
from bot.runtime import Runtime

REVOKE_STATUS = {"unknown": 404, "not_allowed": 403, "already_revoked": 409}


def add_grant_routes(app: FastAPI, runtime: Runtime, dependencies: list[Any]) -> None:
    storage = runtime.storage

    @app.get("/api/grants", dependencies=dependencies)
    async def list_grants(
        all_grants: Annotated[bool, Query(alias="all", description="Include revoked and expired grants")] = False,
        tool: Annotated[str | None, Query(max_length=200)] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> dict[str, Any]:
        rows = await storage.list_grants(active=not all_grants, tool=tool, limit=limit)
        return {"grants": [grant_json(r) for r in rows]}

    @app.get("/api/grants/{grant_id}", dependencies=dependencies)
    async def get_grant(grant_id: str) -> dict[str, Any]:
        row = await storage.get_grant(grant_id)
        if row is None:
            raise HTTPException(404, f"no grant {grant_id}")
        return grant_json(row)

    @app.delete(
        "/api/grants/{grant_id}",
        dependencies=dependencies,
        responses={403: {"description": "Not its giver nor an approver of its tool"}, 404: {}, 409: {}},
    )
    async def revoke_grant(
        request: Request,
        grant_id: str,
        by: Annotated[str | None, Query(min_length=1, max_length=320)] = None,
    ) -> dict[str, Any]:
        caller = caller_of(request)
        who, _proof = decider(caller, by, runtime.settings.api_token_may_decide)
        person = caller.person if caller.kind == "person" else await storage.person_for(who)
        agents = runtime.agents or {runtime.agent.name: runtime.agent}
        outcome = await revoke(storage, agents, grant_id, by=who, person=person)
        if outcome.status != "revoked":
            raise HTTPException(REVOKE_STATUS[outcome.status], outcome.message)
        assert outcome.grant is not None
        return {**grant_json(outcome.grant), "message": outcome.message}
