"""The Bolt app: Slack's requests routed to `inbound`, `interactions` and `commands`; the Home tab.

`process_before_response=True`: Slack gets its answer when the listener returns, and every
listener returns as soon as what it heard is recorded (the agent works later, in the worker). A
listener that could not record (the database is down) raises, Bolt answers 500 (over Socket Mode:
no ack) and Slack delivers again. Requests over HTTP are verified with the signing secret by Bolt
(401 on a bad signature or a timestamp more than 5 minutes off, before any listener runs).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Collection
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext, AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from channels.base import Core
from channels.slack import blocks
from channels.slack._background import Background
from channels.slack.commands import Commands, HomeSource
from channels.slack.home import ANSWER_ACTION_ID, ANSWER_CALLBACK_ID
from channels.slack.identity import GroupMembership
from channels.slack.inbound import Inbound
from channels.slack.interactions import Interactions
from channels.slack.manifest_requirements import SHORTCUT_CALLBACK_ID

log = logging.getLogger(__name__)
USER_ID = re.compile(r"[UW][A-Z0-9]{2,}")
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
    home: HomeSource | None = None,
    agent_commands: Collection[str] = (),
) -> AsyncApp:
    """The app; `signing_secret` may be None only when it is reached over Socket Mode alone.

    `home`: what the Home tab, `/signoff` and the message shortcut are built from; without it the
    app serves none of the three.

    `agent_commands`: slash commands (without `/`) that ask one agent of several (its keywords).

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

    @app.action(blocks.APPROVE_GRANT_ACTION_ID)
    async def on_approve_grant(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        await interactions.approve_with_grant(body)

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

    @app.action(re.compile(blocks.DENY_OPTION_ACTION_PATTERN))
    async def on_deny_option(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        await interactions.deny_with_option(body)

    @app.action(blocks.DENY_ACTION_ID)
    async def on_deny(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        interactions.deny(body)

    @app.view(blocks.DENY_CALLBACK_ID)
    async def on_deny_reason(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        response = await interactions.deny_submitted(body, view)
        await ack(**(response or {}))

    if home is not None:
        commands = Commands(core, client, home, background, agent_commands)
        _add_home_and_commands(app, commands, home, interactions)
    return app


def _add_home_and_commands(app: AsyncApp, commands: Commands, home: HomeSource, interactions: Interactions) -> None:
    @app.event("app_home_opened")
    async def on_home_opened(body: dict[str, Any], event: dict[str, Any]) -> None:
        user = event.get("user")
        if event.get("tab") == "home" and isinstance(user, str) and USER_ID.fullmatch(user):
            await home.opened(user, str(body.get("team_id") or ""))

    @app.action(ANSWER_ACTION_ID)
    async def on_answer(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        interactions.answer(body)

    @app.view(ANSWER_CALLBACK_ID)
    async def on_answer_submitted(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        response = await interactions.answer_submitted(body, view)
        await ack(**(response or {}))

    @app.command(re.compile(r"^/.*"))  # the app only hears its own commands: `/signoff`, or as renamed
    async def on_command(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        await commands.command(body, ack, respond)

    @app.shortcut(SHORTCUT_CALLBACK_ID)
    async def on_shortcut(ack: AsyncAck, body: dict[str, Any]) -> None:
        await commands.shortcut(body)
        await ack()
