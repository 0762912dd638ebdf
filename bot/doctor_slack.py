"""`signoff doctor` for Slack: how Slack reaches the bot, the bot token (`auth.test`) and the scopes
it holds (each missing one named with what needs it), and in Socket Mode the app token
(`apps.connections.open`, whose URL is simply left unused)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from bot.doctor import Report
from bot.errors import ConfigError
from bot.settings import Settings
from bot.slack_wiring import api_base_url, receive_modes, web_client
from channels.slack.manifest_requirements import (
    EVENT_SCOPES,
    FEATURE_SCOPES,
    METHOD_SCOPES,
    REQUIRED_SCOPES,
    SHORTCUT_CALLBACK_ID,
    SLASH_COMMAND,
)

# What Slack answers when the token itself is wrong (not a missing scope or a server fault).
TOKEN_ERRORS = frozenset(
    {"invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired", "not_allowed_token_type"}
)
BOT_TOKEN_FIX = (
    "set SLACK_BOT_TOKEN to the app's Bot User OAuth Token (xoxb-..., OAuth & Permissions); "
    "if it was revoked or the app removed, reinstall the app to the workspace and copy the new token"
)
APP_TOKEN_FIX = (
    "set SLACK_APP_TOKEN to an app-level token with connections:write (xapp-..., Basic Information -> "
    "App-Level Tokens), and turn on Socket Mode in the app's settings"
)
NETWORK_ERRORS = (aiohttp.ClientError, OSError, TimeoutError, SlackClientError)


async def check_slack(settings: Settings, report: Report, seconds: float) -> None:
    assert settings.slack_bot_token is not None
    try:
        secret, app_token = receive_modes(settings)
    except ConfigError as exc:
        report.bad("Slack cannot reach the bot", str(exc))
        secret = app_token = None
    if secret:
        report.good("Slack HTTP mode: the app's Request URL must be https://<this server>/slack/events")
    url = api_base_url(settings.slack_api_url)
    bot = web_client(settings.slack_bot_token.get_secret_value(), settings.slack_api_url, timeout=int(seconds))
    if await _check_bot_token(bot, url, report, seconds) and app_token:
        app = web_client(app_token, settings.slack_api_url, timeout=int(seconds))
        await _check_app_token(app, url, report, seconds)


async def _check_bot_token(client: AsyncWebClient, url: str, report: Report, seconds: float) -> bool:
    try:
        async with asyncio.timeout(seconds):
            auth = await client.auth_test()
    except SlackApiError as exc:
        error = _error_of(exc)
        fix = BOT_TOKEN_FIX if error in TOKEN_ERRORS else _api_url_fix(url)
        report.bad(f"Slack refused SLACK_BOT_TOKEN (auth.test at {url}): {error}", fix)
        return False
    except NETWORK_ERRORS as exc:
        report.bad(f"Slack Web API unreachable at {url}: {_describe(exc)}", _api_url_fix(url))
        return False
    report.good(f"Slack bot @{auth.get('user')} ({auth.get('user_id')}) in {auth.get('team')} ({auth.get('team_id')})")
    if not auth.get("bot_id"):
        report.warn("SLACK_BOT_TOKEN belongs to a user, not a bot: use the Bot User OAuth Token (xoxb-...)")
    check_scopes(auth.headers, report)
    return True


def check_scopes(headers: Mapping[str, Any], report: Report) -> None:
    """The scopes the bot token holds (Slack's X-OAuth-Scopes) against what the app needs, each
    missing one named with what it is for (the features of manifest.yml: the Home tab, /signoff,
    the message shortcut, and the events and calls the code makes)."""
    value = next((str(v) for k, v in headers.items() if str(k).lower() == "x-oauth-scopes"), None)
    if value is None:
        report.warn("Slack did not say which scopes SLACK_BOT_TOKEN holds; manifest.yml lists what it needs")
        return
    held = {s.strip() for s in value.split(",") if s.strip()}
    missing = sorted(REQUIRED_SCOPES - held)
    for scope in missing:
        report.bad(
            f"the Slack app lacks the scope {scope}, needed for {', '.join(needs_scope(scope))}",
            "add it under OAuth & Permissions -> Bot Token Scopes (or update the app from manifest.yml), "
            "then reinstall the app to the workspace",
        )
    if not missing:
        report.good("Slack scopes: the bot token holds every scope in manifest.yml")
    report.good(
        "Slack features (from manifest.yml; a bot token cannot read them): the Home tab (App Home -> "
        f"Home Tab on, event app_home_opened), the slash command {SLASH_COMMAND} and the message shortcut "
        f"with callback id {SHORTCUT_CALLBACK_ID}"
    )


def needs_scope(scope: str) -> list[str]:
    """What in the app needs `scope`."""
    uses = [f"the {event} event" for event, s in EVENT_SCOPES.items() if s == scope]
    uses += [feature for feature, s in FEATURE_SCOPES.items() if s == scope]
    uses += [f"{method}" for method, scopes in METHOD_SCOPES.items() if scope in scopes]
    return uses or ["the app"]


async def _check_app_token(client: AsyncWebClient, url: str, report: Report, seconds: float) -> None:
    app_token = client.token or ""
    try:
        async with asyncio.timeout(seconds):
            await client.apps_connections_open(app_token=app_token)
    except SlackApiError as exc:
        report.bad(f"Slack refused SLACK_APP_TOKEN (apps.connections.open): {_error_of(exc)}", APP_TOKEN_FIX)
        return
    except NETWORK_ERRORS as exc:
        report.bad(f"Slack Web API unreachable at {url}: {_describe(exc)}", _api_url_fix(url))
        return
    report.good("Slack Socket Mode: SLACK_APP_TOKEN may open connections")


def _error_of(exc: SlackApiError) -> str:
    response = exc.response
    error = response.get("error") if isinstance(response.data, dict) else None
    return str(error) if error else f"HTTP {response.status_code}, not a Slack answer"


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "no answer in time"
    return str(exc) or type(exc).__name__


def _api_url_fix(url: str) -> str:
    if url == AsyncWebClient.BASE_URL:
        return "check that this machine reaches https://slack.com (DNS, firewall, HTTPS_PROXY)"
    return f"check SLACK_API_URL ({url}), or unset it to use Slack's own ({AsyncWebClient.BASE_URL})"
