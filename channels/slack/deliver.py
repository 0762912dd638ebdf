"""Out: what the core wrote to the outbox, sent through Slack's Web API.

    reply / notice      chat.postMessage in the origin thread
    approval_request    the approval card, in the origin thread (a top-level post for a request
                        made through the API, in the channel it names), or in the tool's approval channel
                        (else SLACK_APPROVALS_CHANNEL) with a link back to the thread and a short
                        note in the thread; returns {"channel", "ts", "routed"} for later updates
    question            the question in the origin thread; answered by a reply there
    decision            chat.update of the card (or question) to show the outcome, who and when,
                        plus a note in the origin thread when the card lives elsewhere
    copy                the card (or question) in another place the agent names (agent/places.py):
                        a channel, or each approver's DM (conversations.open, then a post); the
                        thread, if in Slack, is linked
    copy_update         chat.update of every message of a copy: the outcome, or the count toward N

Failures map onto the dispatcher's contract: rate limits, Slack's 5xx and network errors are
`RetryableDeliveryError`; anything else Slack refuses (channel_not_found, invalid_auth, ...) is
`PermanentDeliveryError`. Extra messages (the routed note, an outcome note) are best effort once
the main one is sent, so a retry never posts a second card.

Every post carries metadata naming its outbox row (`sent_before`); a row tried before (its sender
may have died between the post and marking it sent) first looks for its earlier post and, when it
finds it, returns that message's ts instead of posting again.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from channels.base import COPY_KINDS, HumanRequestView, Outbound, copy_key
from channels.errors import DeliveryError, PermanentDeliveryError, RetryableDeliveryError
from channels.slack import blocks, clock_notes, notes
from channels.slack.identity import GROUP_ID
from channels.slack.sent_before import find_post, outbox_metadata

log = logging.getLogger(__name__)

USER_ID = re.compile(r"[UW][A-Z0-9]{2,}")
MAX_DMS = 50  # a request's DMs: at most this many people (as many as an escalation may add)

RETRYABLE_ERRORS = frozenset(
    {"ratelimited", "rate_limited", "fatal_error", "internal_error", "service_unavailable", "request_timeout"}
)


def delivery_error(exc: Exception) -> DeliveryError:
    """The dispatcher's view of a failed Web API call."""
    if isinstance(exc, SlackApiError):
        status = getattr(exc.response, "status_code", 200)
        error = str(exc.response.get("error", "")) if isinstance(exc.response.data, dict) else ""
        what = f"Slack said {error or f'HTTP {status}'}"
        if status == 429 or status >= 500 or error in RETRYABLE_ERRORS:
            return RetryableDeliveryError(what, retry_after=_retry_after(exc.response.headers))
        return PermanentDeliveryError(what)
    return RetryableDeliveryError(f"cannot reach Slack: {exc!r}")


def _retry_after(headers: object) -> float | None:
    """Slack's Retry-After (whole seconds, on a 429), if it sent one that reads as a number."""
    if not isinstance(headers, Mapping):
        return None
    value = next((str(v) for k, v in headers.items() if str(k).lower() == "retry-after"), "")
    return float(value) if value[:10].isdigit() and len(value) <= 10 else None


class SlackChannel:
    name = "slack"

    def __init__(
        self,
        client: AsyncWebClient,
        *,
        approvals_channel: str | None = None,
        tool_channels: Mapping[str, str] | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.client = client
        self.approvals_channel = approvals_channel or None
        self.tool_channels = dict(tool_channels or {})
        self.now = now

    async def deliver(self, message: Outbound) -> dict[str, Any]:
        try:
            return await self._deliver(message)
        except (SlackApiError, aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise delivery_error(exc) from exc

    async def _deliver(self, message: Outbound) -> dict[str, Any]:
        if message.kind in COPY_KINDS:  # elsewhere than the thread, which may not even be in Slack
            channel, thread_ts = "", None
        else:
            channel, thread_ts = _place(message)
        request = message.request
        match message.kind:
            case "reply" | "notice":
                return await self._post(message, channel, thread_ts, blocks.reply_message(message.text))
            case "question":
                return await self._post(message, channel, thread_ts, blocks.question_message(_need(request)))
            case "approval_request":
                return await self._approval_request(message, _need(request), channel, thread_ts)
            case "decision":
                return await self._decision(message, _need(request), channel, thread_ts)
            case "progress":
                return await self._progress(message, _need(request), channel, thread_ts)
            case "reminder" | "escalation":
                return await self._clock_note(message, _need(request), channel, thread_ts)
            case "copy":
                return await self._copy(message, _need(request))
            case "copy_update":
                return await self._copy_update(message, _need(request))
        raise PermanentDeliveryError(f"the Slack channel cannot send {message.kind!r} messages")

    def route_for(self, request: HumanRequestView) -> str | None:
        """Where a request's card goes when not in the thread: the tool's channel, else the default."""
        return self.tool_channels.get(request.tool or "") or self.approvals_channel

    async def _approval_request(
        self, message: Outbound, request: HumanRequestView, channel: str, thread_ts: str | None
    ) -> dict[str, Any]:
        if request.status != "pending":  # decided before its card went out (e.g. through the API)
            return await self._post(message, channel, thread_ts, self._decided(request))
        target = self.route_for(request)
        if target is None or thread_ts is None or message.origin.data.get("standalone"):
            # Where it was asked (a request made through the API goes where it names): no routing.
            refs = await self._post(message, channel, thread_ts, blocks.approval_card(request))
            return {**refs, "routed": False}
        thread_link = await self._permalink(channel, thread_ts)
        refs = await self._post(message, target, None, blocks.approval_card(request, thread_link))
        card_link = await self._permalink(refs["channel"], refs["ts"])
        await self._best_effort(message, channel, thread_ts, notes.routed_note(request, card_link, refs["channel"]))
        return {**refs, "routed": True}

    async def _decision(
        self, message: Outbound, request: HumanRequestView, channel: str, thread_ts: str | None
    ) -> dict[str, Any]:
        delivery = request.delivery
        card = (
            delivery.get("slack:approval_request")
            or delivery.get("slack:question")
            or delivery.get("approval_request")
            or delivery.get("question")
            or {}
        )
        if not card.get("channel") or not card.get("ts"):
            # The card never went out: say the outcome in the thread instead.
            note = notes.outcome_note(request, request.decided_by or "", "")
            return await self._post(message, channel, thread_ts, note)
        # An update is the same however often it is sent: no need to look for an earlier one.
        decided = _spoken_by(message.speaker, self._decided(request))  # the card keeps naming its agent
        updated = await self.client.chat_update(channel=card["channel"], ts=card["ts"], **decided)
        await self._update_escalation_card(request, decided)
        if card.get("routed"):
            note = notes.outcome_note(request, request.decided_by or "", request.comment)
            await self._best_effort(message, channel, thread_ts, note)
        return {"channel": str(updated.get("channel") or card["channel"]), "ts": str(card["ts"])}

    async def _update_escalation_card(self, request: HumanRequestView, content: Mapping[str, Any]) -> None:
        """The card an escalation posted in another channel shows what the thread's card shows: the
        outcome, or the approvals so far toward N (best effort)."""
        extra = request.delivery.get("slack:escalation")
        if not isinstance(extra, dict) or not extra.get("card") or not extra.get("channel") or not extra.get("ts"):
            return
        try:
            await self.client.chat_update(channel=extra["channel"], ts=extra["ts"], **content)
        except (SlackApiError, aiohttp.ClientError, TimeoutError, OSError) as exc:
            log.warning("could not update the escalation's card in %s: %s", extra["channel"], exc)

    async def _progress(
        self, message: Outbound, request: HumanRequestView, channel: str, thread_ts: str | None
    ) -> dict[str, Any]:
        """An approval counted toward N of M: the card shows it (and keeps its buttons while pending)."""
        card = request.delivery.get("approval_request") or {}
        if request.status != "pending":
            return {}  # decided meanwhile: the decision updates the card
        if not card.get("channel") or not card.get("ts"):
            return await self._post(message, channel, thread_ts, blocks.reply_message(message.text))
        content = _spoken_by(message.speaker, blocks.approval_card(request))
        await self.client.chat_update(channel=card["channel"], ts=card["ts"], **content)
        await self._update_escalation_card(request, content)
        return {"channel": str(card["channel"]), "ts": str(card["ts"])}

    async def _clock_note(
        self, message: Outbound, request: HumanRequestView, channel: str, thread_ts: str | None
    ) -> dict[str, Any]:
        """A reminder or an escalation, in the thread where the request waits: under its card when
        the card lives elsewhere (routed, or a request made through the API), else in the
        conversation. An escalation also updates the card, which then names who may decide."""
        if request.status != "pending":
            return {}  # decided meanwhile: the decision says so
        card = _card_refs(request)
        if card.get("channel") and card.get("ts") and (card.get("routed") or thread_ts is None):
            channel, thread_ts = str(card["channel"]), str(card.get("thread_ts") or card["ts"])
        if message.kind == "escalation":
            if request.kind == "approval" and card.get("channel") and card.get("ts"):
                content = _spoken_by(message.speaker, blocks.approval_card(request))
                await self.client.chat_update(channel=card["channel"], ts=card["ts"], **content)
            note = clock_notes.escalation(request, clock_notes.shown(message))
            if message.slack_channel and request.kind == "approval":
                # The card again, in the escalation's channel; the decision updates it too.
                link = await self._permalink(channel, thread_ts) if thread_ts else None
                where = message.slack_channel
                posted = await self._post(message, where, None, blocks.approval_card(request, link), part="card")
                await self._best_effort(message, channel, thread_ts, note)
                return {**posted, "card": True}
            return await self._post(message, channel, thread_ts, note)
        return await self._post(message, channel, thread_ts, clock_notes.reminder(request, clock_notes.shown(message)))

    async def _copy(self, message: Outbound, request: HumanRequestView) -> dict[str, Any]:
        """The request in another place (`slack:<channel>`, or `slack:dm`: each approver's DM),
        linked to its thread when that is in Slack. Returns {"channel", "ts"}, or for DMs
        {"posts": [{"channel", "ts", "user"}, ...]} plus "refused" for the DMs that failed for good."""
        place = message.text.partition(":")[2]
        link = await self._thread_link(message)
        content = self._copy_content(request, link)
        if place != "dm":
            return await self._post(message, place, None, content, part="copy")
        users = await self._dm_users(request)
        if not users:
            raise PermanentDeliveryError(
                f"request {request.id}: none of {', '.join(request.allowed) or 'anyone'} is a Slack user "
                "(U...) or user group (S...) to send a direct message to"
            )
        posts: list[dict[str, str]] = []
        refused: list[str] = []
        for user in users:  # each DM on its own: one that fails for good does not stop the others
            try:
                opened = await self.client.conversations_open(users=user)
                dm = str(opened["channel"]["id"])
                posted = await self._post(message, dm, None, content, part=f"dm:{user}")
            except (SlackApiError, aiohttp.ClientError, TimeoutError, OSError) as exc:
                error = delivery_error(exc)
                if isinstance(error, RetryableDeliveryError):
                    raise error from exc  # tried again later; the DMs already posted are found again
                refused.append(f"Slack DM to {user}: {error}")
                continue
            posts.append({**posted, "user": user})
        if not posts:
            raise PermanentDeliveryError("; ".join(refused))
        return {"posts": posts, **({"refused": refused} if refused else {})}

    def _copy_content(self, request: HumanRequestView, link: str | None) -> dict[str, Any]:
        if request.status != "pending":  # decided before this copy went out: show the outcome
            return self._decided(request)
        if request.kind == "question":
            return blocks.question_message(request)
        return blocks.approval_card(request, link)

    async def _copy_update(self, message: Outbound, request: HumanRequestView) -> dict[str, Any]:
        """Every message of the copy at this place shows the request as it is now: the outcome and
        who decided, or (still pending) the approvals so far and who may decide."""
        refs = request.delivery.get(copy_key(message.text))
        posts = (refs.get("posts") or [refs]) if isinstance(refs, dict) else []
        content = _spoken_by(message.speaker, self._copy_content(request, await self._thread_link(message)))
        failed: Exception | None = None
        updated = 0
        for post in posts:
            if not (isinstance(post, dict) and post.get("channel") and post.get("ts")):
                continue
            try:
                await self.client.chat_update(channel=post["channel"], ts=post["ts"], **content)
                updated += 1
            except (SlackApiError, aiohttp.ClientError, TimeoutError, OSError) as exc:
                log.warning("could not update the copy of request %s in %s: %s", request.id, post["channel"], exc)
                failed = failed or exc  # the others are still updated; an update is the same when sent again
        if failed is not None:
            raise delivery_error(failed) from failed
        return {"updated": updated}

    async def _thread_link(self, message: Outbound) -> str | None:
        data = message.origin.data
        if message.origin.channel != "slack" or not data.get("channel") or not data.get("thread_ts"):
            return None
        return await self._permalink(str(data["channel"]), str(data["thread_ts"]))

    async def _dm_users(self, request: HumanRequestView) -> list[str]:
        """The Slack users a request's DMs go to: those it names, and the members of the user
        groups it names (best effort: a group that cannot be read is left out, and logged)."""
        users = [name for name in request.allowed if USER_ID.fullmatch(name)]
        for group in (name for name in request.allowed if GROUP_ID.fullmatch(name)):
            try:
                response = await self.client.usergroups_users_list(usergroup=group)
                users.extend(str(u) for u in response.get("users") or [] if USER_ID.fullmatch(str(u)))
            except (SlackApiError, aiohttp.ClientError, TimeoutError, OSError) as exc:
                log.warning("request %s: cannot read the members of %s for its DMs: %s", request.id, group, exc)
        return list(dict.fromkeys(users))[:MAX_DMS]

    def _decided(self, request: HumanRequestView) -> dict[str, Any]:
        return blocks.decided_card(
            request, request.status, request.decided_by or "", request.decided_at or self.now(), request.comment
        )

    async def _post(
        self,
        message: Outbound,
        channel: str,
        thread_ts: str | None,
        content: Mapping[str, Any],
        part: str = "message",
    ) -> dict[str, Any]:
        marker = outbox_metadata(message.id, message.thread_id, part)
        earlier = await self._earlier_post(message, channel, thread_ts, marker)
        if earlier is not None:
            log.info("%s message %d was posted before (%s/%s); not posting it again", part, message.id, *earlier)
            refs = {"channel": earlier[0], "ts": earlier[1]}
            return {**refs, "thread_ts": thread_ts} if thread_ts else refs
        response = await self.client.chat_postMessage(
            channel=channel,
            thread_ts=thread_ts,
            unfurl_links=False,
            unfurl_media=False,
            metadata=marker,
            **_spoken_by(message.speaker, content),
        )
        refs = {"channel": str(response["channel"]), "ts": str(response["ts"])}
        return {**refs, "thread_ts": thread_ts} if thread_ts else refs

    async def _earlier_post(
        self, message: Outbound, channel: str, thread_ts: str | None, marker: dict[str, Any]
    ) -> tuple[str, str] | None:
        """(channel, ts) of this part's post by an earlier attempt at the row, if there was one."""
        if message.attempts == 0:
            return None
        try:
            ts = await find_post(self.client, channel, thread_ts, marker)
        except SlackApiError as exc:
            if isinstance(delivery_error(exc), RetryableDeliveryError):
                raise
            # Cannot look (a scope removed, a thread deleted): posting again beats never posting.
            log.warning("cannot look for an earlier post of message %d in %s: %s", message.id, channel, exc)
            return None
        return (channel, ts) if ts is not None else None

    async def _permalink(self, channel: str, ts: str) -> str | None:
        try:
            response = await self.client.chat_getPermalink(channel=channel, message_ts=ts)
            url = str(response["permalink"])
            blocks.link(url, "check")  # only an http(s) URL is ever rendered as a link
            return url
        except (SlackApiError, aiohttp.ClientError, TimeoutError, OSError, KeyError, ValueError) as exc:
            log.warning("no permalink for %s/%s: %s", channel, ts, exc)
            return None

    async def _best_effort(
        self, message: Outbound, channel: str, thread_ts: str | None, content: Mapping[str, Any]
    ) -> None:
        try:
            await self._post(message, channel, thread_ts, content, part="note")
        except (SlackApiError, aiohttp.ClientError, TimeoutError, OSError) as exc:
            log.warning("could not post a note in %s (thread %s): %s", channel, thread_ts, exc)


def _place(message: Outbound) -> tuple[str, str | None]:
    """The Slack channel and thread a message goes to; a request made through the API with no
    conversation (`POST /api/approvals`) has a channel and no thread: its card is a top-level post."""
    data = message.origin.data
    channel, thread_ts = data.get("channel"), data.get("thread_ts")
    if not channel or not (thread_ts or data.get("standalone")):
        raise PermanentDeliveryError(f"thread {message.thread_id} has no Slack channel and thread to answer in")
    return str(channel), str(thread_ts) if thread_ts else None


def _card_refs(request: HumanRequestView) -> dict[str, Any]:
    """Where the request's card (or question) was posted, if it was."""
    delivery = request.delivery
    for key in ("slack:approval_request", "slack:question", "approval_request", "question"):
        refs = delivery.get(key)
        if isinstance(refs, dict) and refs.get("channel") and refs.get("ts"):
            return refs
    return {}


def _spoken_by(speaker: str, content: Mapping[str, Any]) -> dict[str, Any]:
    """The post with the agent that speaks named first (where a deployment runs several)."""
    if not speaker:
        return dict(content)
    name = blocks.escape(speaker, 100)
    text = f"*{name}*: {content.get('text', '')}"
    if "blocks" not in content:
        return {**content, "text": text}
    said = {"type": "context", "elements": [{"type": "mrkdwn", "text": f"*{name}* agent"}]}
    return {**content, "text": text, "blocks": [said, *content["blocks"]][:50]}


def _need(request: HumanRequestView | None) -> HumanRequestView:
    if request is None:
        raise PermanentDeliveryError("this message needs its request, and it has none")
    return request
