"""Slack, wired from the settings: the Web API client, the Bolt app, delivery, and how Slack reaches us.

HTTP mode (SLACK_SIGNING_SECRET): `POST /slack/events` on the bot's server. Socket Mode
(SLACK_APP_TOKEN): a service that keeps a websocket to Slack. With both set, both run.
SLACK_API_URL points every Web API call (and Socket Mode's `apps.connections.open`) elsewhere.
The App Home tab's publisher runs as a service beside them (bot/slack_home_publisher.py).
"""

from __future__ import annotations

from slack_sdk.web.async_client import AsyncWebClient

from bot.errors import ConfigError
from bot.runtime import Runtime
from bot.settings import Settings
from bot.slack_home import SlackHome
from bot.slack_home_publisher import HomePublisher
from channels.slack.app import build_app
from channels.slack.connection import http_mount, socket_mode_service
from channels.slack.deliver import SlackChannel
from channels.slack.home_publish import Permalinks
from channels.slack.identity import GroupMembership
from storage.errors import DatabaseUnavailable


def api_base_url(api_url: str | None) -> str:
    base_url = api_url or AsyncWebClient.BASE_URL
    return base_url if base_url.endswith("/") else base_url + "/"


def web_client(token: str, api_url: str | None, *, timeout: int = 30) -> AsyncWebClient:
    return AsyncWebClient(token=token, base_url=api_base_url(api_url), timeout=timeout)


def receive_modes(settings: Settings) -> tuple[str | None, str | None]:
    """(signing secret, app token): how Slack reaches the bot; ConfigError when it cannot."""
    secret = settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else None
    app_token = settings.slack_app_token.get_secret_value() if settings.slack_app_token else None
    if not secret and not app_token:
        raise ConfigError(
            "SLACK_BOT_TOKEN is set, but Slack has no way to reach the bot: set SLACK_SIGNING_SECRET "
            "(HTTP mode, Basic Information -> Signing Secret; request URL https://<host>/slack/events) "
            "or SLACK_APP_TOKEN (Socket Mode, an xapp- token with connections:write)"
        )
    return secret, app_token


def setup_slack(runtime: Runtime) -> None:
    settings = runtime.settings
    assert settings.slack_bot_token is not None
    secret, app_token = receive_modes(settings)
    client = web_client(settings.slack_bot_token.get_secret_value(), settings.slack_api_url)
    agents = runtime.agents.values() if runtime.agents else [runtime.agent]
    tool_channels = {name: t.approval_channel for a in agents for name, t in a.tools.items() if t.approval_channel}
    runtime.add_channel(
        "slack",
        SlackChannel(client, approvals_channel=settings.slack_approvals_channel, tool_channels=tool_channels),
    )
    groups = GroupMembership(client)
    runtime.core.slack_groups = groups.held_by_any  # members decide by email, token, CLI or web too
    home = SlackHome(runtime.storage, groups, Permalinks(client), inbox_url=settings.web_url)
    publisher = HomePublisher(
        runtime.storage,
        client,
        home,
        interval=settings.slack_home_interval,
        # Changes recorded by the workers are found by polling; an opened tab wakes it at once.
        poll_interval=max(settings.poll_interval, min(settings.slack_home_interval, 1.0)),
    )
    runtime.services.append(publisher.run)
    app = build_app(
        runtime.core,
        client,
        signing_secret=secret,
        groups=groups,
        home=home,
        temporary=(DatabaseUnavailable,),
        agent_commands=runtime.agents.router.commands() if runtime.agents else (),
    )
    if secret:
        runtime.mounts.append(http_mount(app))
    if app_token:
        runtime.services.append(socket_mode_service(app, app_token, client))
