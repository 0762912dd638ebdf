"""The core as channels, the HTTP API and the CLI use it: launch, receive, decide, answer.

Each operation is one storage transaction (on the storage threads, storage/async_store.py),
followed by a nudge to the worker and the outbox dispatcher. This is where channels and the agent
meet. A message that opens a conversation (a Slack mention outside a thread) is the exception:
`open_conversation` records it in one INSERT so the channel can acknowledge at once, and the
builder (bot/builder.py) makes it a thread right after; a lookup of its conversation in between builds it first.

Every text a human sends (a message, an answer, a decision's comment) loses its hidden characters
here (`channels.invisible.clean_inbound`), whatever way it came in: the channels clean theirs too,
and the API and the CLI have no other gate.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from agent import choices
from agent.definition import Agent
from agent.events import ApprovalDecided, Event, GrantGiven, HumanMessage, QuestionAnswered
from agent.grants import SCOPE_LABELS, GrantRefused
from agent.policy import allows
from bot import failpoints, refusals
from bot.agent_set import Agents
from bot.agent_webhook import inbound_drafts, previous_mail
from bot.builder import ThreadBuilder
from bot.edit_check import EditRefused, check_edit
from bot.grant_rules import draft as grant_draft
from bot.grant_rules import grant_view, may_offer
from bot.identity import SLACK_GROUP, decision_identity, held_by, voter
from bot.logs import current_thread
from bot.outbox_policy import outbox_for
from bot.views import request_view
from channels.base import Decision, Edit, GrantAsk, HumanRequestView, Origin, Proof
from channels.invisible import clean_inbound
from storage.async_store import AsyncStore
from storage.grants import GrantDraft
from storage.intake import Queued
from storage.models import RequestRow, ThreadRow
from storage.people import SLACK_ID
from storage.people_models import PersonRow
from storage.requests import Identified, Identify
from storage.standalone import outcome_outbox
from storage.status import STANDALONE_AGENT
from storage.store import DecisionResult, OutboxDraft

log = logging.getLogger(__name__)

Wake = Callable[[str], None]
# The Slack user groups among an allowed list (2nd) that any of these Slack user ids (1st) belongs to.
GroupLookup = Callable[[Sequence[str], Sequence[str]], Awaitable[list[str]]]


def _noop(_thread_id: str) -> None:
    return None


class SignoffCore:
    def __init__(
        self,
        storage: AsyncStore,
        agent: Agent,
        *,
        default_approvers: list[str] | None = None,
        wake_thread: Wake = _noop,
        wake_outbox: Callable[[], None] = lambda: None,
        wake_intake: Callable[[], None] | None = None,
        poll_interval: float = 0.5,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        forward_to_webhook: bool = False,
        agent_address: str = "",
        agents: Agents | None = None,
    ) -> None:
        self.storage = storage
        # SIGNOFF_AGENT=webhook: what people send is posted to the agent that lives elsewhere
        # (bot/agent_webhook.py), in the transaction that records it; `agent_address` is its mail's To.
        self.forward_to_webhook = forward_to_webhook
        self.agent_address = agent_address
        self.now = now
        self.agent = agent
        # A new conversation is routed to one of them (bot/routing.py); a thread keeps its agent.
        self.agents = agents or Agents.single(agent)
        self.default_approvers = default_approvers or []
        self.wake_thread = wake_thread
        self.wake_outbox = wake_outbox
        # Told of every decision this process records (the long polls of /api/approvals wait on it).
        self.on_decided: Callable[[str], None] = lambda _request_id: None
        # Set where Slack is configured: a list naming a user group lets its members decide on
        # every surface, as the directory's person whose Slack id is a member.
        self.slack_groups: GroupLookup | None = None
        for each in {*self.agents.values(), agent}:
            if self.default_approvers and not each.approvers:
                each.approvers = tuple(self.default_approvers)
        # Deliveries from people never queue behind the worker's storage calls: the worker holds at
        # most its share of the storage threads (bot/runtime.py), so a busy agent delays no Slack ack.
        self.builder = ThreadBuilder(
            storage,
            self._route_queued,
            wake_thread=lambda thread_id: self.wake_thread(thread_id),
            receive=self.receive_message,
            poll_interval=poll_interval,
        )
        # In the ingress process, the builder runs in a worker process: this wakes one there.
        self.wake_intake = wake_intake or self.builder.wake

    def _route_queued(self, row: Queued) -> str:
        return self.agents.router.route(row.origin_channel, row.origin_data, row.text)

    async def launch(
        self,
        message: str,
        *,
        by: str,
        channel: str = "api",
        origin: Origin | None = None,
        receipt_key: str | None = None,
        outbox: Sequence[OutboxDraft] = (),
        agent: str | None = None,
        humans: Sequence[str] = (),
        trigger: str = "",
    ) -> ThreadRow | None:
        """Start a thread for `agent` (a name of `self.agents`), else for the one its origin routes to."""
        first = HumanMessage(text=clean_inbound(message), by=by, channel=channel, humans=list(humans), trigger=trigger)
        if agent is None:
            where = origin or Origin(channel, "")
            agent = self.agents.router.route(where.channel, where.data, message)
        row = await self.storage.create_thread(
            agent=agent,
            first=first,
            requested_by=by,
            origin_channel=origin.channel if origin else channel,
            origin_key=origin.key if origin else None,
            origin_data=dict(origin.data) if origin else None,
            receipt_key=receipt_key,
            outbox=outbox,
        )
        if row is not None:
            failpoints.hit("after_inbound_recorded")
            current_thread.set(row.id)
            log.info("thread %s started by %s via %s for agent %s", row.id, by, channel, agent)
            self.wake_thread(row.id)
        return row

    async def open_conversation(self, *, receipt_key: str, origin: Origin, text: str, by: str) -> None:
        if self.forward_to_webhook:  # its webhook is written with it: the thread now, in one transaction
            await self.receive_message(receipt_key=receipt_key, origin=origin, text=text, by=by)
            return
        await self.storage.run(
            self.storage.intake.record,
            key=receipt_key,
            origin_channel=origin.channel,
            origin_key=origin.key,
            origin_data=dict(origin.data),
            text=clean_inbound(text),
            by=by,
        )
        failpoints.hit("after_inbound_recorded")
        self.wake_intake()

    async def _thread_by_origin(self, channel: str, key: str) -> ThreadRow | None:
        row = await self.storage.thread_by_origin(channel, key)
        if row is None and await self.storage.run(self.storage.intake.waiting, channel, key):
            await self.builder.drain()  # the message that opened it is acknowledged: build it first
            row = await self.storage.thread_by_origin(channel, key)
        if row is None and channel == "slack" and key.count(":") == 2:
            # A Slack thread under a question posted on its own (POST /api/questions), or one a
            # question was posted into, is that request's.
            _team, slack_channel, ts = key.split(":")
            asked = await self.storage.slack_post_threads(slack_channel, ts)
            row = await self.storage.get_thread(asked[0]) if asked else None
        return row

    async def threads_asking_in(self, slack_channel: str, thread_ts: str) -> list[str]:
        """The threads with a question posted on its own at, or into, this Slack thread."""
        return await self.storage.slack_post_threads(slack_channel, thread_ts)

    async def receive_message(
        self,
        *,
        receipt_key: str,
        origin: Origin,
        text: str,
        by: str,
        details: Mapping[str, Any] | None = None,
        agent: str | None = None,
        humans: Sequence[str] = (),
        trigger: str = "",
    ) -> str | None:
        """Continue the origin's thread, or start one (for `agent`, else the one the origin routes to).
        A trigger's message names the people it speaks for and the firing or delivery that sent it
        (`HumanMessage.humans`, `.trigger`)."""
        drafts: list[OutboxDraft] = []
        existing = await self._thread_by_origin(origin.channel, origin.key)
        if self.forward_to_webhook:
            earlier = await self.storage.stored_events(existing.id) if existing and origin.channel == "email" else []
            drafts = inbound_drafts(
                receipt_key=receipt_key,
                origin=origin,
                text=clean_inbound(text),
                by=by,
                agent_address=self.agent_address,
                details=details or {},
                previous=previous_mail(earlier, existing.origin_data if existing else {}, self.agent_address),
            )
        if existing is None:
            row = await self.launch(
                text,
                by=by,
                channel=origin.channel,
                origin=origin,
                receipt_key=receipt_key,
                outbox=drafts,
                agent=agent,
                humans=humans,
                trigger=trigger,
            )
            if row is not None and drafts:
                self.wake_outbox()
            return row.id if row else None
        appended = await self.storage.append(
            existing.id,
            [
                HumanMessage(
                    text=clean_inbound(text), by=by, channel=origin.channel, humans=list(humans), trigger=trigger
                )
            ],
            receipt_key=receipt_key,
            outbox=drafts,
        )
        if appended is None:
            return None
        failpoints.hit("after_inbound_recorded")
        self.wake_thread(existing.id)
        if drafts:
            self.wake_outbox()
        return existing.id

    async def thread_for(self, channel: str, key: str) -> str | None:
        row = await self._thread_by_origin(channel, key)
        return row.id if row else None

    async def pending_requests(self, thread_id: str) -> list[HumanRequestView]:
        rows = await self.storage.list_requests(status="pending", thread_id=thread_id)
        people = await self.storage.people_for([a for r in rows for a in r.allowed])
        return [await self._offered(request_view(r, people)) for r in rows]

    async def get_request(self, request_id: str) -> HumanRequestView | None:
        row = await self.storage.get_request(request_id)
        return await self._view(row) if row else None

    async def _view(self, row: RequestRow) -> HumanRequestView:
        return await self._offered(request_view(row, await self.storage.people_for(row.allowed)))

    async def _offered(self, view: HumanRequestView) -> HumanRequestView:
        if not any(may_offer(agent, view.tool) for agent in self.agents.values()):
            return view
        thread = await self.storage.get_thread(view.thread_id)
        return grant_view(self.agents, view, thread.agent) if thread is not None else view

    async def decide(
        self,
        request_id: str,
        *,
        approve: bool,
        by: str,
        comment: str = "",
        receipt_key: str | None = None,
        identities: Sequence[str] = (),
        proof: Proof | None = None,
        edit: Edit | None = None,
        grant: GrantAsk | None = None,
        deny_option: str | None = None,
    ) -> Decision:
        # Bound to what the human was shown: the request's tool and arguments, as a digest (taken
        # by the store, in the transaction that records the decision). An edit is checked here
        # against the request's schema (and the agent's tool), then recorded with the approval.
        identities = await self._with_groups(request_id, by, identities)
        event = ApprovalDecided(request_id=request_id, approved=approve, by=by, comment=clean_inbound(comment))
        if deny_option is not None:  # one of the request's named ways to deny; its comment unless one was typed
            row = await self.storage.get_request(request_id)
            if row is None:
                return Decision("unknown", None, refusals.message("unknown", request_id, by, None))
            view = await self._view(row)
            option = next((o for o in view.deny_options if o.name == deny_option), None)
            if approve or option is None:
                return Decision("not_an_option", view, f"{deny_option!r} is not a way to deny this request")
            text = event.comment or option.comment or option.label
            event = event.model_copy(update={"comment": text, "deny_option": option.name})
        if edit is None:
            return await self._resolve(request_id, event, receipt_key, identities, proof, grant=grant)
        if grant is not None:  # a grant covers the call as asked; an edited call is approved alone
            row = await self.storage.get_request(request_id)
            message = "a standing grant is given with an approval as asked, not with edited arguments"
            return Decision("grant_refused", await self._view(row) if row else None, f"{message}. Nothing was decided.")
        row = await self.storage.get_request(request_id)
        if row is None:
            return Decision("unknown", None, refusals.message("unknown", request_id, by, None))
        if row.status != "pending" or not await self._may_decide(row, by, identities):
            # Refused as it would be without an edit (already decided, not allowed), before the
            # edit is looked at: whoever may not decide learns nothing about the arguments.
            return await self._resolve(request_id, event, receipt_key, identities, proof)
        thread = await self.storage.get_thread(row.thread_id)
        # The thread's own agent (a deployment may run several); none for a standalone request.
        agent = self.agents.by_name.get(thread.agent) if thread is not None else None
        tool = agent.tools.get(row.tool or "") if agent is not None else None
        try:
            edited = check_edit(agent or self.agent, tool, row, edit, approve=approve)
        except EditRefused as exc:
            return Decision(exc.status, await self._view(row), str(exc), dict(exc.problems))
        return await self._resolve(request_id, event, receipt_key, identities, proof, (edited, row.digest or ""))

    async def _may_decide(self, row: RequestRow, by: str, identities: Sequence[str]) -> bool:
        """The allowed check the store makes (it makes it again when it records the decision)."""
        if not row.allowed:
            return True
        person = (await self.storage.people_for([by])).get(by)
        return allows(row.allowed, [by, *identities, *held_by(by, person)])

    async def answer(
        self,
        request_id: str,
        *,
        answer: str,
        by: str,
        receipt_key: str | None = None,
        identities: Sequence[str] = (),
        proof: Proof | None = None,
    ) -> Decision:
        answer = clean_inbound(answer)
        choice: str | None = None
        row = await self.storage.get_request(request_id)
        if row is not None and row.kind == "question" and row.options and row.status == "pending":
            choice = choices.pick(row.options, answer)
            if choice is None and row.allow_free_text is False:
                message = f"answer with one of the options: {choices.numbered(row.options)}; nothing was recorded"
                return Decision("not_an_option", await self._view(row), message)
        event = QuestionAnswered(request_id=request_id, answer=choice or answer, by=by, choice=choice)
        identities = await self._with_groups(request_id, by, identities)
        return await self._resolve(request_id, event, receipt_key, identities, proof)

    async def _with_groups(self, request_id: str, by: str, identities: Sequence[str]) -> list[str]:
        """`identities` and the user groups of the request's allowed list that `by` (as their
        directory person's Slack ids) belongs to, where Slack is configured."""
        if self.slack_groups is None:
            return list(identities)
        row = await self.storage.get_request(request_id)
        groups = [a for a in row.allowed if SLACK_GROUP.fullmatch(a)] if row is not None else []
        if not groups or set(groups) <= set(identities):
            return list(identities)
        person = (await self.storage.people_for([by])).get(by)
        users = [n for n in held_by(by, person) if SLACK_ID.fullmatch(n)]
        if not users:
            return list(identities)
        return [*identities, *await self.slack_groups(users, groups)]

    async def _resolve(
        self,
        request_id: str,
        event: ApprovalDecided | QuestionAnswered,
        receipt_key: str | None,
        identities: Sequence[str] = (),
        proof: Proof | None = None,
        edited: tuple[dict[str, Any], str] | None = None,
        grant: GrantAsk | None = None,
    ) -> Decision:
        # One transaction: the messages depend on the thread's channel, read there.
        drafts: list[OutboxDraft] = []

        def outbox(thread: ThreadRow, recorded: Sequence[Event]) -> list[OutboxDraft]:
            if thread.agent == STANDALONE_AGENT:  # its channels and its callback, not an agent's thread
                drafts.extend(outcome_outbox(thread, request_id))
            else:
                drafts.extend(outbox_for(thread.origin_channel, recorded))
            return drafts

        # One person, however they came: the names their directory entry holds count as theirs,
        # and the decision records who they are and how that was proven.
        decided = event

        def identified(request: RequestRow | None, people: dict[str, PersonRow]) -> Identified:
            person = people.get(decided.by)
            identity = decision_identity(decided.by, person, proof, self.now())
            requester = voter(request.requested_by, people.get(request.requested_by)) if request else None
            stamped = decided.model_copy(update={"identity": identity})
            return Identified(stamped, held_by(decided.by, person), requester)

        # Who decides is read in the decision's own transaction, unless a grant's terms are checked first.
        identify: Identify | None = identified
        requester: str | None = None
        granted: GrantDraft | None = None
        holds = list(identities)
        if grant is not None:
            request, people = await self.storage.request_and_people(request_id, [event.by])
            who = identified(request, people)
            event, requester, holds, identify = who.event, who.requester, [*identities, *who.holds], None
            if request is not None and request.status == "pending" and isinstance(event, ApprovalDecided):
                refused = self._grant_refusal(event, requester)
                if refused is not None:
                    return Decision(refused[0], await self._view(request), refused[1])  # type: ignore[arg-type]
                try:
                    thread = await self.storage.get_thread(request.thread_id)
                    agent_name = thread.agent if thread else ""
                    agent = self.agents.get(agent_name) or self.agent
                    granted = grant_draft(agent, request, agent_name, grant, event.by, holds, self.now())
                except GrantRefused as exc:
                    return Decision("grant_refused", await self._view(request), f"{exc}. Nothing was decided.")
        result = await self.storage.resolve(
            request_id,
            event,
            identities=holds,
            receipt_key=receipt_key,
            outbox=outbox,
            bind_digest=True,
            requester=requester,
            edited=edited[0] if edited else None,
            edited_from=edited[1] if edited else None,
            grant=granted,
            identify=identify,
        )
        return await self._resolved(request_id, result, event.by, drafts)

    async def _resolved(self, request_id: str, result: DecisionResult, by: str, drafts: list[OutboxDraft]) -> Decision:
        """What a recorded (or refused) decision means for the caller; the worker woken first."""
        if result.request is not None:
            current_thread.set(result.request.thread_id)
        if result.status in ("accepted", "progress"):
            failpoints.hit("after_inbound_recorded")
            log.info("request %s %s by %s", request_id, result.status, by)
            # The wakes first: the worker takes the thread up while the answer is put together.
            self.wake_thread(result.request.thread_id if result.request else "")
            self.on_decided(request_id)
            if drafts:
                self.wake_outbox()
        view = await self._view(result.request) if result.request else None
        if result.status in ("accepted", "progress"):
            given = next((e for e in result.events if isinstance(e, GrantGiven)), None)
            note = refusals.progress(view) if result.status == "progress" else ""
            if given is not None:
                scope = SCOPE_LABELS.get(given.scope, given.scope)  # type: ignore[call-overload]
                note = (
                    f"approved, and standing grant {given.grant_id} allows the same calls {scope} until {given.until}"
                )
            return Decision("accepted", view, note)
        if result.status == "duplicate":
            return Decision("already_decided", view, "this reply was already recorded")
        status = {"changed": "invalid"}
        if result.status == "grant_refused":
            return Decision("grant_refused", view, "a standing grant needs an approval that decides the request")
        return Decision(
            status.get(result.status, result.status),  # type: ignore[arg-type]
            view,
            refusals.message(result.status, request_id, by, view),
        )

    @staticmethod
    def _grant_refusal(event: ApprovalDecided, requester: str | None) -> tuple[str, str] | None:
        """Why a grant asked for with this decision cannot be given at all (before its terms)."""
        if not event.approved:
            return "grant_refused", "a standing grant is given with an approval, not a denial. Nothing was decided."
        voter_key_of_by = event.identity.voter if event.identity else None
        if requester is not None and voter_key_of_by == requester:
            return (
                "self_grant",
                f"{event.by} asked for this call: the person who asked cannot give a standing grant for it. "
                "Nothing was decided.",
            )
        return None

    async def record_delivery(self, outbound_id: int, refs: dict[str, Any]) -> None:
        await self.storage.outbox_sent(outbound_id, refs)

    async def first_delivery(self, receipt_key: str) -> bool:
        return await self.storage.record_receipt(receipt_key)

    def may_decide(self, allowed: Sequence[str], names: Sequence[str]) -> bool:
        return allows(allowed, names)
