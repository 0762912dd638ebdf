"""`signoff doctor` for Slack: how Slack reaches the bot, the bot token (`auth.test`), and in Socket
Mode the app token (`apps.connections.open`, whose URL is simply left unused)."""

from __future__ import annotations

import asyncio

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from bot.doctor import Report
from bot.errors import ConfigError
from bot.settings import Settings
from bot.slack_wiring import api_base_url, receive_modes, web_client

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
    return True


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
