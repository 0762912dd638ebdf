"""The inbox's pages: waiting on me, all requests, all threads, a thread's timeline, deciding and
answering, and talking to the agent.

Deciding and answering go through `SignoffCore.decide` / `answer`, the very calls the JSON API
makes: the same check of who may (the request's allowed list), the same first-answer-wins, the
same digest binding. The page adds one check of its own: an approval carries the digest of the
arguments the page showed, and is refused if the request's arguments are no longer those.
"""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from bot.grant_rules import offers_for
from bot.http_api import DECISION_STATUS, MAX_TEXT
from bot.views import request_view
from bot.web.context import Web, redirect
from bot.web.live import WAITING, LiveHub, thread_key
from bot.web.people import Viewer, may_answer, with_groups
from bot.web.render import slack_link, where_sent
from bot.web.sessions import Session
from channels.base import Edit, GrantAsk, Origin, Proof
from storage.inbox import ListFilter
from storage.models import RequestRow, ThreadRow
from storage.status import RequestStatus, ThreadStatus

PER_PAGE = 50
MAX_PENDING = 5000  # pending requests looked through for "waiting on me"
AGES = [
    ("", "any"),
    ("1h", "newer than an hour"),
    ("1d", "newer than a day"),
    ("7d", "newer than a week"),
    ("+1h", "older than an hour"),
    ("+1d", "older than a day"),
    ("+7d", "older than a week"),
]
_AGE_SPANS = {"1h": timedelta(hours=1), "1d": timedelta(days=1), "7d": timedelta(days=7)}
LABELS = {
    "human_message": "Message",
    "tool_call": "Tool call",
    "tool_started": "Tool started",
    "tool_result": "Tool result",
    "tool_outcome_unknown": "Outcome unknown",
    "error": "Error",
    "approval_requested": "Approval requested",
    "approval_edited": "Edited",
    "approval_progress": "Approval counted",
    "approval_decided": "Decision",
    "question_asked": "Question",
    "question_answered": "Answer",
    "agent_reply": "Agent",
    "delivery_failed": "Not delivered",
    "grant_given": "Standing grant",
    "grant_used": "Allowed by a grant",
    "request_reminded": "Reminder",
    "request_escalated": "Escalated",
    "request_expired": "Expired",
}


class Pages:
    def __init__(self, web: Web) -> None:
        self.web = web
        self.runtime = web.runtime
        self.storage = web.runtime.storage
        web.env.globals["ages"] = AGES
        web.env.globals["grant_offers"] = self._grant_offers
        self.live: LiveHub = web.live

    def _grant_offers(self, row: RequestRow, thread: ThreadRow | None) -> tuple[Any, ...]:
        """The grants the decide form offers: on the agent's own threads only."""
        agents = self.runtime.agents
        agent = agents.get(thread.agent) if agents is not None and thread is not None else None
        if agent is None:
            return ()
        return offers_for(agent, row.tool, row.required or 1)

    def routes(self) -> list[tuple[str, Any, list[str]]]:
        return [
            ("/", self.waiting, ["GET"]),
            ("/requests", self.requests, ["GET"]),
            ("/threads", self.threads, ["GET"]),
            ("/threads/{thread_id}", self.thread, ["GET"]),
            ("/threads/{thread_id}/state", self.state, ["GET"]),
            ("/live/waiting", self.live_waiting, ["GET"]),
            ("/live/threads/{thread_id}", self.live_thread, ["GET"]),
            ("/threads/{thread_id}/say", self.say, ["POST"]),
            ("/requests/{request_id}/decide", self.decide, ["POST"]),
            ("/requests/{request_id}/answer", self.answer, ["POST"]),
            ("/try", self.try_page, ["GET"]),
            ("/try", self.try_start, ["POST"]),
        ]

    # --- lists ---------------------------------------------------------------------------------

    async def waiting(self, request: Request) -> Response:
        session, viewer = await self.web.signed_in(request)
        version = await self.storage.waiting_version()  # read first: a change while the page is built shows
        # Who may decide is a list in each row: read the pending ones (oldest first), keep the viewer's.
        found = await self.storage.search_requests(
            ListFilter(now=self.web.now(), status=RequestStatus.PENDING), limit=MAX_PENDING, oldest_first=True
        )
        viewer = await with_groups(viewer, [r for r, _ in found.rows], self.runtime.core.slack_groups)
        mine = [(r, t) for r, t in found.rows if may_answer(r.allowed, viewer)]
        page = _page_number(request)
        shown = mine[(page - 1) * PER_PAGE : page * PER_PAGE]
        return self.web.page(
            request,
            "waiting.html",
            session=session,
            viewer=viewer,
            title="Waiting on me",
            here="waiting",
            items=shown,
            reminders=await self.storage.reminders_sent([(r.id, r.thread_id) for r, _ in shown]),
            total=len(mine),
            page=page,
            pages=max(1, math.ceil(len(mine) / PER_PAGE)),
            query="",
            live_stream="/live/waiting",
            live_version=version,
        )

    def _filter(self, request: Request, statuses: list[str]) -> tuple[ListFilter, dict[str, str], int]:
        q = request.query_params
        raw = {name: q.get(name, "")[:320] for name in ("status", "agent", "tool", "person", "channel", "age")}
        if raw["status"] not in statuses:
            raw["status"] = ""
        if raw["age"] not in dict(AGES):
            raw["age"] = ""
        age = raw["age"]
        span = _AGE_SPANS.get(age.lstrip("+"))
        where = ListFilter(
            now=self.web.now(),
            status=raw["status"] or None,
            agent=raw["agent"] or None,
            tool=raw["tool"] or None,
            person=raw["person"] or None,
            channel=raw["channel"] or None,
            older_than=span if age.startswith("+") else None,
            newer_than=span if age and not age.startswith("+") else None,
        )
        return where, {k: v for k, v in raw.items() if v}, _page_number(request)

    async def requests(self, request: Request) -> Response:
        session, viewer = await self.web.signed_in(request)
        statuses = [s.value for s in RequestStatus]
        where, chosen, page = self._filter(request, statuses)
        found = await self.storage.search_requests(where, offset=(page - 1) * PER_PAGE, limit=PER_PAGE)
        return self.web.page(
            request,
            "requests.html",
            session=session,
            viewer=viewer,
            title="All requests",
            here="requests",
            items=found.rows,
            total=found.total,
            page=page,
            pages=max(1, math.ceil(found.total / PER_PAGE)),
            f=chosen,
            choices=await self.storage.distinct_values(),
            statuses=statuses,
            query=urlencode(chosen),
        )

    async def threads(self, request: Request) -> Response:
        session, viewer = await self.web.signed_in(request)
        statuses = [s.value for s in ThreadStatus]
        where, chosen, page = self._filter(request, statuses)
        found = await self.storage.search_threads(where, offset=(page - 1) * PER_PAGE, limit=PER_PAGE)
        return self.web.page(
            request,
            "threads.html",
            session=session,
            viewer=viewer,
            title="All threads",
            here="threads",
            items=found.rows,
            total=found.total,
            page=page,
            pages=max(1, math.ceil(found.total / PER_PAGE)),
            f=chosen,
            choices=await self.storage.distinct_values(),
            statuses=statuses,
            query=urlencode(chosen),
        )

    # --- a thread ------------------------------------------------------------------------------

    async def _thread_page(
        self, request: Request, session: Session, viewer: Viewer, thread_id: str, *, status: int = 200, **extra: Any
    ) -> Response:
        thread = await self.storage.get_thread(thread_id)
        if thread is None:
            return self.web.message(
                request, session, viewer, 404, "Not found", "There is no such thread.", back="/threads"
            )
        events = await self.storage.stored_events(thread_id)
        requests: list[RequestRow] = await self.storage.list_requests(thread_id=thread_id, limit=1000)
        outbox = await self.storage.outbox_for_thread(thread_id)
        by_request = {r.id: r for r in requests}
        replies = [o.refs for o in outbox if o.kind == "reply"]
        decisions = {o.request_id: o.refs for o in outbox if o.kind == "decision" and o.request_id}
        entries: list[dict[str, Any]] = []
        reply_index = 0
        for stored in events:
            event = stored.event
            links: list[dict[str, str]] = []
            match event.type:
                case "approval_requested" | "question_asked":
                    asked = by_request.get(event.request_id)
                    links = where_sent(asked.delivery) if asked else []
                case "approval_decided" | "question_answered":
                    links = where_sent(decisions.get(event.request_id))
                case "agent_reply":
                    if reply_index < len(replies):
                        links = where_sent(replies[reply_index])
                    reply_index += 1
            entries.append(
                {
                    "seq": stored.seq,
                    "at": stored.created_at,
                    "event": event,
                    "label": LABELS.get(event.type, event.type),
                    "links": links,
                }
            )
        open_ = [r for r in requests if r.status == RequestStatus.PENDING]
        viewer = await with_groups(viewer, open_, self.runtime.core.slack_groups)
        pending = [(r, may_answer(r.allowed, viewer)) for r in open_]
        reminders = await self.storage.reminders_sent([(r.id, r.thread_id) for r, _ in pending])
        return self.web.page(
            request,
            "thread.html",
            session=session,
            viewer=viewer,
            status=status,
            title=f"Thread {thread.id[:12]}",
            here="threads",
            thread=thread,
            entries=entries,
            pending=pending,
            reminders=reminders,
            origin_links=_origin_links(thread),
            running=thread.status == ThreadStatus.RUNNING,
            live_stream=f"/live/threads/{thread.id}",
            live_page=f"/threads/{thread.id}",  # also where a refusal answering a POST reloads to
            live_version=f"{thread.status}:{thread.last_seq}",
            **extra,
        )

    async def thread(self, request: Request) -> Response:
        session, viewer = await self.web.signed_in(request)
        return await self._thread_page(request, session, viewer, request.path_params["thread_id"])

    async def state(self, request: Request) -> Response:
        await self.web.signed_in(request)
        thread = await self.storage.get_thread(request.path_params["thread_id"])
        if thread is None:
            return JSONResponse({"detail": "no such thread"}, status_code=404)
        return JSONResponse({"status": thread.status, "last_seq": thread.last_seq})

    # --- live updates (bot/web/live.py) -------------------------------------------------------

    async def live_waiting(self, request: Request) -> Response:
        await self.web.signed_in(request)
        return self._stream(WAITING)

    async def live_thread(self, request: Request) -> Response:
        await self.web.signed_in(request)
        thread = await self.storage.get_thread(request.path_params["thread_id"])
        if thread is None:
            return JSONResponse({"detail": "no such thread"}, status_code=404)
        return self._stream(thread_key(thread.id))

    def _stream(self, key: str) -> Response:
        if self.live.streams >= self.live.max_streams:
            detail = f"{self.live.max_streams} live pages are already open here; reload the page later"
            return JSONResponse({"detail": detail}, status_code=503, headers={"Retry-After": "30"})
        return StreamingResponse(
            self.live.stream(key),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    # --- deciding and answering ----------------------------------------------------------------

    async def decide(self, request: Request) -> Response:
        session, viewer = await self.web.signed_in(request)
        fields = await self.web.form(request, session)
        request_id = request.path_params["request_id"]
        row = await self.storage.get_request(request_id)
        if row is None:
            return self.web.message(request, session, viewer, 404, "Not found", "There is no such request.", back="/")
        choice = fields.get("decision")
        comment = fields.get("comment", "")[:MAX_TEXT]
        if choice not in ("approve", "deny", "approve_edited"):
            return await self._refused(request, session, viewer, row, 400, "Choose Approve or Deny.")
        edit = None
        if choice == "approve_edited":  # the edit form's fields, `arg:<name>`, as typed
            edit = Edit({k.removeprefix("arg:"): v for k, v in fields.items() if k.startswith("arg:")}, text=True)
            choice = "approve"
        if choice == "approve" and row.status == RequestStatus.PENDING and fields.get("digest") != row.digest:
            return await self._refused(
                request,
                session,
                viewer,
                row,
                409,
                "This request's arguments are not the ones the page showed you; nothing was decided. Read them again.",
            )
        scope = fields.get("grant", "")
        grant = GrantAsk(scope, until=_grant_until(fields.get("grant_until", ""))) if scope else None
        if grant is not None and choice != "approve":
            return await self._refused(request, session, viewer, row, 422, "A standing grant comes with Approve.")
        decision = await self.runtime.core.decide(
            request_id,
            approve=choice == "approve",
            by=viewer.by,
            comment=comment,
            identities=viewer.identities,
            proof=_proof(viewer),
            edit=edit,
            grant=grant,
        )
        if decision.status != "accepted":
            return await self._refused(
                request, session, viewer, row, DECISION_STATUS.get(decision.status, 400), decision.message
            )
        return redirect(f"/threads/{row.thread_id}#request-{request_id}")

    async def answer(self, request: Request) -> Response:
        session, viewer = await self.web.signed_in(request)
        fields = await self.web.form(request, session)
        request_id = request.path_params["request_id"]
        row = await self.storage.get_request(request_id)
        if row is None:
            return self.web.message(request, session, viewer, 404, "Not found", "There is no such request.", back="/")
        text = fields.get("answer", "").strip()
        if not text or len(text) > MAX_TEXT:
            return await self._refused(
                request, session, viewer, row, 400, "Write an answer (at most 20,000 characters)."
            )
        decision = await self.runtime.core.answer(
            request_id, answer=text, by=viewer.by, identities=viewer.identities, proof=_proof(viewer)
        )
        if decision.status != "accepted":
            return await self._refused(
                request, session, viewer, row, DECISION_STATUS.get(decision.status, 400), decision.message
            )
        return redirect(f"/threads/{row.thread_id}#request-{request_id}")

    async def _refused(
        self, request: Request, session: Session, viewer: Viewer, row: RequestRow, status: int, message: str
    ) -> Response:
        fresh = await self.storage.get_request(row.id)
        view = request_view(fresh or row)
        if view.status != RequestStatus.PENDING:
            message = f"Nothing was recorded: this request was already {view.status} by {view.decided_by}."
        return await self._thread_page(
            request, session, viewer, row.thread_id, status=status, notice=message, notice_kind="refused"
        )

    # --- talking to the agent ------------------------------------------------------------------

    async def try_page(self, request: Request) -> Response:
        session, viewer = await self.web.signed_in(request)
        mine = await self.storage.search_threads(
            ListFilter(now=self.web.now(), channel="web", person=viewer.by), limit=20
        )
        return self.web.page(
            request,
            "try.html",
            session=session,
            viewer=viewer,
            title="Try the agent",
            here="try",
            agent=self.runtime.agent.name,
            mine=mine.rows,
        )

    async def try_start(self, request: Request) -> Response:
        session, viewer = await self.web.signed_in(request)
        fields = await self.web.form(request, session)
        message = fields.get("message", "").strip()
        if not message or len(message) > MAX_TEXT:
            return self.web.message(
                request,
                session,
                viewer,
                400,
                "Try the agent",
                "Write a message (at most 20,000 characters).",
                back="/try",
            )
        key = uuid.uuid4().hex
        row = await self.runtime.core.launch(
            message, by=viewer.by, channel="web", origin=Origin("web", key), receipt_key=f"web:{key}"
        )
        assert row is not None  # a fresh key is never a repeat
        return redirect(f"/threads/{row.id}")

    async def say(self, request: Request) -> Response:
        session, viewer = await self.web.signed_in(request)
        fields = await self.web.form(request, session)
        thread = await self.storage.get_thread(request.path_params["thread_id"])
        message = fields.get("message", "").strip()
        if (
            thread is None
            or thread.origin_channel != "web"
            or not thread.origin_key
            or thread.requested_by != viewer.by
        ):
            return self.web.message(
                request, session, viewer, 404, "Not found", "There is no web thread of yours here.", back="/try"
            )
        if not message or len(message) > MAX_TEXT:
            return self.web.message(
                request,
                session,
                viewer,
                400,
                "Try the agent",
                "Write a message (at most 20,000 characters).",
                back=f"/threads/{thread.id}",
            )
        await self.runtime.core.receive_message(
            receipt_key=f"web:{uuid.uuid4().hex}", origin=Origin("web", thread.origin_key), text=message, by=viewer.by
        )
        return redirect(f"/threads/{thread.id}")


def _grant_until(text: str) -> datetime | None:
    """The form's end of a grant: a date or time (UTC unless it says); empty, the longest allowed."""
    text = text.strip()[:40]
    if not text:
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:  # refused by the grant's terms as ending in the past, with the reason shown
        return datetime.min.replace(tzinfo=UTC)
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _proof(viewer: Viewer) -> Proof:
    """How the web proved who decides: the sign-in (a link mailed to the address, or a personal
    token), by its id."""
    method = "web_token" if viewer.how == "token" else "web_link"
    return Proof(method, "web", {"signin": viewer.signin_id})


def _page_number(request: Request) -> int:
    try:
        return min(max(int(request.query_params.get("page", "1")), 1), 100_000)
    except ValueError:
        return 1


def _origin_links(thread: ThreadRow) -> list[dict[str, str]]:
    data = thread.origin_data or {}
    if thread.origin_channel == "slack":
        link = slack_link(data.get("channel"), data.get("thread_ts"))
        return [{"label": "the Slack thread", "href": link}] if link else []
    if thread.origin_channel == "email":
        return where_sent({"message_id": data.get("message_id") or thread.origin_key})
    return []
