"""The Web API calls behind the Home tab: `views.publish`, and permalinks to threads, cached.

`publish` maps failures onto the outbox's contract (`deliver.delivery_error`): a 429 or a 5xx is
`RetryableDeliveryError` carrying Slack's Retry-After, anything else Slack refuses is permanent.
A permalink is a fact that never changes, so `Permalinks` keeps a bounded cache of them: a burst of
publishes asks Slack once per thread, not once per publish.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from channels.slack.blocks import link
from channels.slack.deliver import delivery_error

log = logging.getLogger(__name__)


async def publish(client: AsyncWebClient, user: str, view: Mapping[str, Any]) -> None:
    try:
        await client.views_publish(user_id=user, view=dict(view))
    except (SlackApiError, aiohttp.ClientError, TimeoutError, OSError) as exc:
        raise delivery_error(exc) from exc


class Permalinks:
    def __init__(self, client: AsyncWebClient, *, size: int = 2048) -> None:
        self.client = client
        self.size = size
        self._known: OrderedDict[tuple[str, str], str] = OrderedDict()

    async def of(self, channel: str, ts: str) -> str | None:
        """The message's permalink (an http(s) URL), or None when Slack gives none."""
        key = (channel, ts)
        if key in self._known:
            self._known.move_to_end(key)
            return self._known[key]
        try:
            response = await self.client.chat_getPermalink(channel=channel, message_ts=ts)
            url = str(response["permalink"])
            link(url, "check")  # only an http(s) URL is ever rendered as a link
        except (SlackApiError, aiohttp.ClientError, TimeoutError, OSError, KeyError, ValueError) as exc:
            log.warning("no permalink for %s/%s: %s", channel, ts, exc)
            return None
        self._known[key] = url
        if len(self._known) > self.size:
            self._known.popitem(last=False)
        return url
