"""`Signoff`: ask for approvals and answers, wait for them, and gate functions behind them."""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from signoff_client.errors import ApiError, Denied, Expired, TimedOut, Unreachable

F = TypeVar("F", bound=Callable[..., Any])
LONG_POLL = 30.0  # seconds per long poll; the server caps it at 60
MAX_ANSWER_BYTES = 1_048_576


@dataclass(frozen=True)
class Approval:
    """An approval request as the server reports it. `arguments` are what the approver approved."""

    id: str
    status: str  # pending | approved | denied | expired
    action: str
    arguments: dict[str, Any]
    comment: str = ""
    decided_by: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def approved(self) -> bool:
        return self.status == "approved"

    @classmethod
    def of(cls, body: dict[str, Any]) -> Approval:
        return cls(
            id=str(body["id"]),
            status=str(body["status"]),
            action=str(body.get("action") or ""),
            arguments=dict(body.get("arguments") or {}),
            comment=str(body.get("comment") or ""),
            decided_by=body.get("decided_by"),
            raw=body,
        )


@dataclass(frozen=True)
class Answer:
    """A question as the server reports it; `answer` is set once it is answered."""

    id: str
    status: str  # pending | answered | expired
    question: str
    answer: str | None = None
    decided_by: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)
    choice: str | None = None  # the option the answer picked, as offered

    @classmethod
    def of(cls, body: dict[str, Any]) -> Answer:
        return cls(
            id=str(body["id"]),
            status=str(body["status"]),
            question=str(body.get("question") or ""),
            answer=body.get("answer"),
            choice=body.get("choice"),
            decided_by=body.get("decided_by"),
            raw=body,
        )


class Signoff:
    """A Signoff server at `url` (e.g. `http://127.0.0.1:8080`), reached with an API `token`.

    Each call is one HTTP request of at most `http_timeout` seconds (plus the long poll's wait).
    """

    def __init__(self, url: str, token: str, *, http_timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.http_timeout = http_timeout

    # -- the calls ------------------------------------------------------------------------------

    def request_approval(
        self,
        action: str,
        arguments: dict[str, Any] | None = None,
        *,
        reason: str = "",
        approvers: Sequence[str] | None = None,
        policy: str | None = None,
        wait: bool = True,
        timeout: float | None = None,
        idempotency_key: str | None = None,
        **options: Any,
    ) -> Approval:
        """Ask `approvers` (or `policy="default"`) to approve `action(**arguments)`.

        With `wait` (the default) it returns once the request is decided: check `.approved`, or
        use `require_approval`, which raises. `timeout` bounds the wait (TimedOut); the request's
        own deadline is `expire_after=` (seconds). Other keyword arguments go into the request
        as they are: `channel`, `slack_channel`, `subject`, `expire_after`, `callback_url`,
        `callback_secret`, `requested_by`, `required` (N of M), `editable`.
        """
        body: dict[str, Any] = {"action": action, "arguments": arguments or {}, "reason": reason, **options}
        body.update(_people("approvers", approvers, policy))
        created = Approval.of(self._create("/api/approvals", body, idempotency_key))
        if not wait:
            return created
        return Approval.of(self._wait("/api/approvals", created.id, timeout))

    def ask(
        self,
        question: str,
        *,
        answerers: Sequence[str] | None = None,
        policy: str | None = None,
        options_offered: Sequence[str] = (),
        allow_free_text: bool = True,
        wait: bool = True,
        timeout: float | None = None,
        idempotency_key: str | None = None,
        **options: Any,
    ) -> Answer:
        """Ask `answerers` a question and (with `wait`) return their answer; raises Expired when
        nobody answered before `expire_after`, TimedOut when `timeout` ran out first. With
        `options_offered`, `.choice` is the option picked; `allow_free_text=False` takes only those."""
        body: dict[str, Any] = {
            "question": question,
            "options": list(options_offered),
            "allow_free_text": allow_free_text,
            **options,
        }
        body.update(_people("answerers", answerers, policy))
        created = Answer.of(self._create("/api/questions", body, idempotency_key))
        if not wait:
            return created
        answer = Answer.of(self._wait("/api/questions", created.id, timeout))
        if answer.status == "expired":
            raise Expired(answer)
        return answer

    def get_approval(self, request_id: str, *, wait: float = 0) -> Approval:
        return Approval.of(self._call("GET", f"/api/approvals/{request_id}?wait={wait:g}", wait=wait))

    def get_question(self, request_id: str, *, wait: float = 0) -> Answer:
        return Answer.of(self._call("GET", f"/api/questions/{request_id}?wait={wait:g}", wait=wait))

    async def arequest_approval(self, action: str, arguments: dict[str, Any] | None = None, **kw: Any) -> Approval:
        """`request_approval`, awaited (its HTTP calls run on a thread)."""
        return await asyncio.to_thread(functools.partial(self.request_approval, action, arguments, **kw))

    async def aask(self, question: str, **kw: Any) -> Answer:
        """`ask`, awaited (its HTTP calls run on a thread)."""
        return await asyncio.to_thread(functools.partial(self.ask, question, **kw))

    # -- the decorator --------------------------------------------------------------------------

    def require_approval(
        self,
        approvers: Sequence[str] | None = None,
        *,
        policy: str | None = None,
        action: str | None = None,
        reason: str | Callable[..., str] = "",
        timeout: float | None = None,
        **options: Any,
    ) -> Callable[[F], F]:
        """Ask before the function runs; run it with the arguments approved (an approver may have
        edited them); raise Denied (with the approver's comment), Expired or TimedOut otherwise,
        and then the function does not run. Works on plain and `async` functions; the arguments
        must be JSON values (they are shown to the approver as they are)."""

        def decorate(fn: F) -> F:
            signature = inspect.signature(fn)
            name = action or fn.__qualname__.rpartition("<locals>.")[2]

            def ask_for(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[dict[str, Any], inspect.BoundArguments]:
                bound = signature.bind(*args, **kwargs)
                bound.apply_defaults()
                arguments = dict(bound.arguments)
                try:
                    json.dumps(arguments)
                except (TypeError, ValueError) as exc:
                    raise TypeError(f"{name}: its arguments must be JSON values to be approved: {exc}") from None
                why = reason(*args, **kwargs) if callable(reason) else reason
                payload = {
                    "action": name,
                    "arguments": arguments,
                    "reason": why,
                    "approvers": approvers,
                    "policy": policy,
                    "timeout": timeout,
                    "idempotency_key": uuid.uuid4().hex,
                    # It runs what comes back, so an approver may edit the arguments first.
                    "editable": True,
                    **options,
                }
                return payload, bound

            def approved_call(approval: Approval, bound: inspect.BoundArguments) -> inspect.BoundArguments:
                if approval.status == "denied":
                    raise Denied(approval)
                if approval.status == "expired":
                    raise Expired(approval)
                if approval.status != "approved":
                    raise TimedOut(approval, timeout or 0)
                for key, value in approval.arguments.items():
                    if key in bound.arguments:
                        bound.arguments[key] = value
                return bound

            if inspect.iscoroutinefunction(fn):

                @functools.wraps(fn)
                async def run_async(*args: Any, **kwargs: Any) -> Any:
                    payload, bound = ask_for(args, kwargs)
                    approval = await self.arequest_approval(payload.pop("action"), payload.pop("arguments"), **payload)
                    ready = approved_call(approval, bound)
                    return await cast(Callable[..., Awaitable[Any]], fn)(*ready.args, **ready.kwargs)

                return cast(F, run_async)

            @functools.wraps(fn)
            def run(*args: Any, **kwargs: Any) -> Any:
                payload, bound = ask_for(args, kwargs)
                approval = self.request_approval(payload.pop("action"), payload.pop("arguments"), **payload)
                ready = approved_call(approval, bound)
                return fn(*ready.args, **ready.kwargs)

            return cast(F, run)

        return decorate

    # -- HTTP -----------------------------------------------------------------------------------

    def _create(self, path: str, body: dict[str, Any], key: str | None) -> dict[str, Any]:
        body = {k: v for k, v in body.items() if v is not None}
        body["idempotency_key"] = key or body.get("idempotency_key") or uuid.uuid4().hex
        try:
            return self._call("POST", path, body)
        except Unreachable:  # the same key: a retry never makes a second request
            return self._call("POST", path, body)

    def _wait(self, path: str, request_id: str, timeout: float | None) -> dict[str, Any]:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = LONG_POLL if deadline is None else max(0.0, min(LONG_POLL, deadline - time.monotonic()))
            body = self._call("GET", f"{path}/{request_id}?wait={left:.3f}", wait=left)
            if body["status"] != "pending":
                return body
            if deadline is not None and time.monotonic() >= deadline:
                raise TimedOut(Approval.of(body) if "action" in body else Answer.of(body), timeout or 0)

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None, *, wait: float = 0) -> dict[str, Any]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            self.url + path,
            data=data,
            method=method,
            headers={
                "Authorization": f"Bearer {self.token}",
                "Accept": "application/json",
                **({"Content-Type": "application/json"} if data is not None else {}),
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.http_timeout + wait) as response:  # noqa: S310
                return cast(dict[str, Any], json.loads(response.read(MAX_ANSWER_BYTES)))
        except urllib.error.HTTPError as exc:
            raw = exc.read(MAX_ANSWER_BYTES)
            try:
                detail = json.loads(raw).get("detail", raw.decode(errors="replace"))
            except (ValueError, AttributeError):
                detail = raw.decode(errors="replace")
            raise ApiError(exc.code, detail) from None
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            raise Unreachable(f"cannot reach Signoff at {self.url}: {exc}") from exc


def _people(field_name: str, names: Sequence[str] | None, policy: str | None) -> dict[str, Any]:
    if names is None and policy is None:
        raise ValueError(f"name the {field_name} or a policy (policy='default': SIGNOFF_APPROVERS)")
    return {field_name: list(names)} if names is not None else {"policy": policy}
