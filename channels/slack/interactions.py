"""Clicks on a card and the deny modal, turned into the core's `decide`.

Approve: decided before the listener returns (one transaction), so the click is durable when
Slack hears back; a refusal is told to the clicker as an ephemeral message afterwards.
Approve is refused when the card could not show every argument in full (`blocks.needs_full_view`):
"Review full arguments" opens the full view (`views.open`), whose submission approves, recorded
under `slack:view:<view id>`.
Deny: acknowledged at once, then the modal opens (`views.open`: its trigger id lives 3 s); the
submitted reason is the decision's comment. Each interaction is recorded under its own key
(`slack:action:<trigger_id>`, `slack:view:<view id>`), so a replayed payload never decides twice.
Whoever clicks is checked against the request's allowed list by the core, with the user groups
they hold (`identity`). The same buttons in the Home tab (`home`) come here too; a click there has
no conversation to answer in, so what would be an ephemeral message opens a small modal instead.
Answer (Home tab, questions only) opens a modal whose submission is the answer.
Edit: acknowledged at once, then the edit modal opens (`blocks.edit_modal`); its submission approves
with the arguments as typed, checked by the core: a field that does not fit is shown under it
(`response_action: errors`) and nothing is decided.
A question's option button answers it with that option, recorded under `slack:action:<trigger_id>`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from channels.base import Core, Decision, Edit, GrantAsk, HumanRequestView, Proof
from channels.slack import blocks, home, notes
from channels.slack._background import Background
from channels.slack.blocks import plain
from channels.slack.identity import GROUP_ID, GroupMembership


@dataclass(frozen=True)
class Click:
    request_id: str
    user: str
    trigger_id: str
    channel: str | None
    thread_ts: str | None

    @classmethod
    def of(cls, body: Mapping[str, Any]) -> Click:
        container = body.get("container") or {}
        message = body.get("message") or {}
        return cls(
            request_id=str(body["actions"][0].get("value") or ""),
            user=str(body["user"]["id"]),
            trigger_id=str(body.get("trigger_id") or ""),
            channel=container.get("channel_id") or (body.get("channel") or {}).get("id"),
            thread_ts=container.get("thread_ts") or message.get("thread_ts"),
        )


def refusal(decision: Decision, request_id: str) -> str:
    """What the clicker is told when their click decided nothing."""
    request = decision.request
    if decision.status == "unknown" or request is None:
        return notes.unknown_request(request_id)
    if decision.status in ("self_approval", "already_approved", "grant_refused", "self_grant"):
        return notes.refused(decision.message)
    if decision.status == "not_allowed":
        return notes.not_allowed(request)
    if decision.status == "invalid":
        return notes.not_an_approval()
    if decision.status in ("not_an_option", "not_editable", "invalid_edit"):
        return notes.refused(decision.message)
    return notes.already_decided(request)


class Interactions:
    def __init__(self, core: Core, client: AsyncWebClient, groups: GroupMembership, background: Background) -> None:
        self.core = core
        self.client = client
        self.groups = groups
        self.background = background

    async def approve_with_grant(self, body: Mapping[str, Any]) -> None:
        """Approve and give the standing grant chosen on the card's select."""
        request_id, scope = blocks.grant_choice(body["actions"][0])
        await self.approve(body, request_id=request_id, grant=GrantAsk(scope))

    async def approve(
        self, body: Mapping[str, Any], *, request_id: str | None = None, grant: GrantAsk | None = None
    ) -> None:
        click = Click.of(body)
        if request_id is not None:
            click = dataclasses.replace(click, request_id=request_id)
        request = await self.core.get_request(click.request_id)
        if request is not None and request.status == "pending" and blocks.needs_full_view(request):
            self.background.spawn(self._tell(click, notes.review_first(request)), "ephemeral")
            return
        key = f"slack:action:{click.trigger_id}"
        proof = slack_proof(body)
        decision = await self.core.decide(
            click.request_id, approve=True, by=click.user, receipt_key=key, proof=proof, grant=grant
        )
        if decision.status == "not_allowed" and decision.request and _names_groups(decision.request):
            identities = await self.groups.identities(click.user, decision.request.allowed)
            if identities:
                decision = await self.core.decide(
                    click.request_id,
                    approve=True,
                    by=click.user,
                    receipt_key=key,
                    identities=identities,
                    proof=proof,
                    grant=grant,
                )
        if decision.status != "accepted":
            self.background.spawn(self._tell(click, refusal(decision, click.request_id)), "ephemeral")
        elif decision.message:  # N of M progress, or the grant given: the approver is told
            self.background.spawn(self._tell(click, notes.progress(decision.message)), "ephemeral")

    async def _submitter(self, body: Mapping[str, Any], view: Mapping[str, Any]) -> Submitter:
        request_id, _option = blocks.deny_modal_target(view)
        user = str(body["user"]["id"])
        request = await self.core.get_request(request_id)
        return Submitter(
            request_id,
            user,
            await self.groups.identities(user, request.allowed) if request else [],
            f"slack:view:{view.get('id') or body.get('trigger_id')}",
            slack_proof(body),
        )

    def review(self, body: Mapping[str, Any]) -> None:
        self.background.spawn(self._open_review_modal(Click.of(body)), "review modal")

    async def review_submitted(self, body: Mapping[str, Any], view: Mapping[str, Any]) -> dict[str, Any] | None:
        """Approve from the full view; returns the `response_action` for the modal, None to close it."""
        who = await self._submitter(body, view)
        decision = await self.core.decide(who.request_id, approve=True, **who.decision())
        if decision.status == "accepted" or _decided_by(decision.request, who.user, "approved"):
            return None
        text = refusal(decision, who.request_id)
        return {"response_action": "update", "view": blocks.review_outcome_modal(text)}

    async def _open_review_modal(self, click: Click) -> None:
        request = await self.core.get_request(click.request_id)
        problem = await self._why_not(click, request)
        if problem is not None or request is None:
            await self._tell(click, problem or notes.unknown_request(click.request_id))
            return
        await self.client.views_open(trigger_id=click.trigger_id, view=blocks.review_modal(request))

    def edit(self, body: Mapping[str, Any]) -> None:
        self.background.spawn(self._open_edit_modal(Click.of(body)), "edit modal")

    async def _open_edit_modal(self, click: Click) -> None:
        request = await self.core.get_request(click.request_id)
        problem = await self._why_not(click, request)
        if problem is None and request is not None and not blocks.can_edit(request):
            problem = notes.not_editable(request)
        if problem is not None or request is None:
            await self._tell(click, problem or notes.unknown_request(click.request_id))
            return
        await self.client.views_open(trigger_id=click.trigger_id, view=blocks.edit_modal(request))

    async def edit_submitted(self, body: Mapping[str, Any], view: Mapping[str, Any]) -> dict[str, Any] | None:
        """Approve with the arguments as edited; returns the `response_action` for the modal (the
        problems under their fields), None to close it."""
        typed = blocks.edit_values_from(view)
        who = await self._submitter(body, view)
        decision = await self.core.decide(who.request_id, approve=True, edit=Edit(typed, text=True), **who.decision())
        if decision.status == "accepted" or _decided_by(decision.request, who.user, "approved"):
            return None  # the card shows the outcome, or the progress toward N of M
        if decision.status == "invalid_edit":
            return blocks.edit_errors(decision.problems or {"arguments": decision.message}, typed)
        text = notes.refused(decision.message) if decision.message else refusal(decision, who.request_id)
        return {"response_action": "update", "view": blocks.review_outcome_modal(text)}

    async def choose(self, body: Mapping[str, Any]) -> None:
        """A question's option button: the answer is that option."""
        click = Click.of(body)
        picked = await self._numbered(click, body, blocks.CHOICE_ACTION_PREFIX, "question")
        if picked is None:
            return
        request, number = picked
        identities = await self.groups.identities(click.user, request.allowed)
        decision = await self.core.answer(
            click.request_id,
            answer=request.options[number - 1],
            by=click.user,
            receipt_key=f"slack:action:{click.trigger_id}",
            identities=identities,
            proof=slack_proof(body),
        )
        if decision.status not in ("accepted", "already_decided") or (
            decision.status == "already_decided" and not _decided_by(decision.request, click.user, "answered")
        ):
            self.background.spawn(self._tell(click, refusal(decision, click.request_id)), "ephemeral")

    def deny(self, body: Mapping[str, Any]) -> None:
        self.background.spawn(self._open_deny_modal(Click.of(body)), "deny modal")

    async def deny_submitted(self, body: Mapping[str, Any], view: Mapping[str, Any]) -> dict[str, Any] | None:
        """Record the denial; returns the `response_action` for the modal, None to close it."""
        reason = blocks.deny_reason_from(view)
        if not reason:
            return _modal_error("Please say why, so the agent can adapt.")
        who = await self._submitter(body, view)
        _request_id, number = blocks.deny_modal_target(view)
        option: str | None = None
        if number is not None:  # opened by one of the request's named ways to deny
            request = await self.core.get_request(who.request_id)
            if request is None or not 1 <= number <= len(request.deny_options):
                return _modal_error(notes.unknown_request(who.request_id))
            option = request.deny_options[number - 1].name
        decision = await self.core.decide(
            who.request_id, approve=False, comment=reason, deny_option=option, **who.decision()
        )
        if decision.status == "accepted" or _decided_by(decision.request, who.user, "denied"):
            return None
        return _modal_error(decision.message or "This request cannot be denied now.")

    async def _numbered(
        self, click: Click, body: Mapping[str, Any], prefix: str, kind: str
    ) -> tuple[HumanRequestView, int] | None:
        """The request and the number of the option a button named (`<prefix><n>`), or None (the
        clicker told so) when the request is unknown, of another kind, or has no such option."""
        action_id = str(body["actions"][0].get("action_id") or "")
        number = int(action_id.removeprefix(prefix) or 0)
        request = await self.core.get_request(click.request_id)
        options = (request.options if kind == "question" else request.deny_options) if request else ()
        if request is None or request.kind != kind or not 1 <= number <= len(options):
            self.background.spawn(self._tell(click, notes.unknown_request(click.request_id)), "ephemeral")
            return None
        return request, number

    async def deny_with_option(self, body: Mapping[str, Any]) -> None:
        """One of an approval's named ways to deny: at once with its comment, or (one that asks for
        a comment) the deny modal, prefilled."""
        click = Click.of(body)
        picked = await self._numbered(click, body, blocks.DENY_OPTION_ACTION_PREFIX, "approval")
        if picked is None:
            return
        request, number = picked
        option = request.deny_options[number - 1]
        if option.ask:
            self.background.spawn(self._open_deny_modal(click, number), "deny modal")
            return
        identities = await self.groups.identities(click.user, request.allowed)
        decision = await self.core.decide(
            click.request_id,
            approve=False,
            by=click.user,
            receipt_key=f"slack:action:{click.trigger_id}",
            identities=identities,
            proof=slack_proof(body),
            deny_option=option.name,
        )
        if decision.status != "accepted" and not (
            decision.status == "already_decided" and _decided_by(decision.request, click.user, "denied")
        ):
            self.background.spawn(self._tell(click, refusal(decision, click.request_id)), "ephemeral")

    async def _open_deny_modal(self, click: Click, option: int | None = None) -> None:
        request = await self.core.get_request(click.request_id)
        problem = await self._why_not(click, request)
        if problem is not None or request is None:
            await self._tell(click, problem or notes.unknown_request(click.request_id))
            return
        if option is None:
            view = blocks.deny_modal(click.request_id)
        else:
            chosen = request.deny_options[option - 1]
            view = blocks.deny_modal(click.request_id, option, chosen.label, chosen.comment)
        await self.client.views_open(trigger_id=click.trigger_id, view=view)

    async def _why_not(self, click: Click, request: HumanRequestView | None, kind: str = "approval") -> str | None:
        if request is None:
            return notes.unknown_request(click.request_id)
        if request.kind != kind:
            return notes.not_an_approval() if kind == "approval" else notes.not_a_question()
        if request.status != "pending":
            return notes.already_decided(request)
        identities = await self.groups.identities(click.user, request.allowed)
        if not self.core.may_decide(request.allowed, [click.user, *identities]):
            return notes.not_allowed(request)
        return None

    async def _tell(self, click: Click, text: str) -> None:
        if click.channel:
            await self.client.chat_postEphemeral(
                channel=click.channel, user=click.user, text=text, thread_ts=click.thread_ts
            )
        elif click.trigger_id:  # a click in the Home tab: no conversation to be ephemeral in
            await self.client.views_open(trigger_id=click.trigger_id, view=home.notice_modal(text))

    def answer(self, body: Mapping[str, Any]) -> None:
        """Answer (the Home tab): the answer modal, for someone who may answer this question."""
        self.background.spawn(self._open_answer_modal(Click.of(body)), "answer modal")

    async def _open_answer_modal(self, click: Click) -> None:
        request = await self.core.get_request(click.request_id)
        problem = await self._why_not(click, request, kind="question")
        if problem is not None or request is None:
            await self._tell(click, problem or notes.unknown_request(click.request_id))
            return
        await self.client.views_open(trigger_id=click.trigger_id, view=home.answer_modal(request))

    async def answer_submitted(self, body: Mapping[str, Any], view: Mapping[str, Any]) -> dict[str, Any] | None:
        """Record the answer; returns the `response_action` for the modal, None to close it."""
        answer = home.answer_from(dict(view))
        if not answer:
            return _field_error(home.ANSWER_BLOCK_ID, "Please write an answer.")
        who = await self._submitter(body, view)
        decision = await self.core.answer(who.request_id, answer=answer, **who.decision())
        if decision.status == "accepted" or _decided_by(decision.request, who.user, "answered"):
            return None
        return _field_error(home.ANSWER_BLOCK_ID, plain(refusal(decision, who.request_id), 150))


@dataclass(frozen=True)
class Submitter:
    """Who submitted a modal about a request: the request, the Slack user, every name they decide
    under (their user groups on the request's list), the receipt that makes a replay decide nothing,
    and the proof."""

    request_id: str
    user: str
    identities: list[str]
    receipt_key: str
    proof: Proof

    def decision(self) -> dict[str, Any]:
        """The keyword arguments every decision or answer from a modal takes."""
        return {
            "by": self.user,
            "receipt_key": self.receipt_key,
            "identities": self.identities,
            "proof": self.proof,
        }


def slack_proof(body: Mapping[str, Any]) -> Proof:
    """The user id comes from a payload Slack signed (or sent over the app's Socket Mode link)."""
    user = body.get("user") or {}
    team = (body.get("team") or {}).get("id") or user.get("team_id") or ""
    return Proof("slack", "slack", {"user": str(user.get("id") or ""), "team": str(team)})


def _names_groups(request: HumanRequestView) -> bool:
    return any(GROUP_ID.fullmatch(a) for a in request.allowed)


def _decided_by(request: HumanRequestView | None, user: str, status: str) -> bool:
    """A replayed submission of a decision that already went through."""
    return request is not None and request.status == status and request.decided_by == user


def _modal_error(message: str) -> dict[str, Any]:
    return _field_error(blocks.DENY_REASON_BLOCK_ID, message)


def _field_error(block_id: str, message: str) -> dict[str, Any]:
    return {"response_action": "errors", "errors": {block_id: blocks.plain(message, 150)}}
