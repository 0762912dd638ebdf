"""The Bolt app: Slack's requests routed to `inbound` and `interactions`.

`process_before_response=True`: Slack gets its answer when the listener returns, and every
listener returns as soon as what it heard is recorded (the agent works later, in the worker). A
listener that could not record (the database is down) raises, Bolt answers 500 (over Socket Mode:
no ack) and Slack delivers again. Requests over HTTP are verified with the signing secret by Bolt
(401 on a bad signature or a timestamp more than 5 minutes off, before any listener runs).
"""

from __future__ import annotations

import logging
import re
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from channels.base import Core
from channels.slack import blocks
from channels.slack._background import Background
from channels.slack.identity import GroupMembership
from channels.slack.inbound import Inbound
from channels.slack.interactions import Interactions

log = logging.getLogger(__name__)
bolt_log = logging.getLogger("channels.slack.bolt")


class _QuietAboutOurClient(logging.Filter):
    """Bolt reads SLACK_BOT_TOKEN itself and warns that our client wins; it always does, on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("As you gave `client` as well")


bolt_log.addFilter(_QuietAboutOurClient())


def build_app(
    core: Core,
    client: AsyncWebClient,
    *,
    signing_secret: str | None,
    groups: GroupMembership | None = None,
    background: Background | None = None,
    temporary: tuple[type[BaseException], ...] = (),
) -> AsyncApp:
    """The app; `signing_secret` may be None only when it is reached over Socket Mode alone.

    `temporary`: errors that mean "try again later" (the database is down): logged in one line.
    Any error answers 500 (over Socket Mode: no ack), so Slack delivers the request again.
    """
    groups = groups or GroupMembership(client)
    background = background or Background()
    app = AsyncApp(
        client=client,
        signing_secret=signing_secret or "",
        request_verification_enabled=bool(signing_secret),
        process_before_response=True,
        logger=bolt_log,
    )
    inbound = Inbound(core, groups, client, background)
    interactions = Interactions(core, client, groups, background)

    @app.error
    async def on_error(error: Exception, body: dict[str, Any]) -> None:
        what = body.get("event", {}).get("type") or body.get("type") or "request"
        if isinstance(error, temporary):
            log.warning("Slack %s not recorded, Slack will retry it: %s", what, error)
        else:
            log.error("Slack %s failed; Slack will retry it", what, exc_info=error)

    @app.event("app_mention")
    async def on_mention(body: dict[str, Any], event: dict[str, Any], context: AsyncBoltContext) -> None:
        await inbound.mention(body, event, context.bot_user_id)

    @app.event("message")
    async def on_message(body: dict[str, Any], event: dict[str, Any], context: AsyncBoltContext) -> None:
        await inbound.message(body, event, context.bot_user_id)

    @app.action(blocks.APPROVE_ACTION_ID)
    async def on_approve(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        await interactions.approve(body)

    @app.action(blocks.REVIEW_ACTION_ID)
    async def on_review(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        interactions.review(body)

    @app.view(blocks.REVIEW_CALLBACK_ID)
    async def on_review_approved(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        response = await interactions.review_submitted(body, view)
        await ack(**(response or {}))

    @app.action(blocks.EDIT_ACTION_ID)
    async def on_edit(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        interactions.edit(body)

    @app.view(blocks.EDIT_CALLBACK_ID)
    async def on_edit_approved(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        response = await interactions.edit_submitted(body, view)
        await ack(**(response or {}))

    @app.action(re.compile(blocks.CHOICE_ACTION_PATTERN))
    async def on_choice(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        await interactions.choose(body)

    @app.action(blocks.DENY_ACTION_ID)
    async def on_deny(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        interactions.deny(body)

    @app.view(blocks.DENY_CALLBACK_ID)
    async def on_deny_reason(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        response = await interactions.deny_submitted(body, view)
        await ack(**(response or {}))

    return app
