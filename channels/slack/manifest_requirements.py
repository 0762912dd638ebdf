"""What the Slack app needs from its manifest: the bot events it subscribes to and the bot scopes.

The Slack channel code imports these (for `signoff doctor` and startup checks), and a test checks
that `manifest.yml` grants exactly these, so the manifest and the code cannot drift apart. Each
scope is listed with the reason it is needed; a scope nobody needs is not asked for.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

# Bot event -> the scope that delivers it.
EVENT_SCOPES: Mapping[str, str] = MappingProxyType(
    {
        "app_mention": "app_mentions:read",  # "@signoff restart payments" in a channel
        "message.channels": "channels:history",  # thread replies (answers to questions) in public channels
        "message.groups": "groups:history",  # ... in private channels
        "message.im": "im:history",  # direct messages to the bot
        "message.mpim": "mpim:history",  # group direct messages
    }
)

# Events that need no scope: the Home tab opened (the app's own tab, `features.app_home`).
SCOPELESS_EVENTS = frozenset({"app_home_opened"})

# Features of the app (manifest `features`) -> the scope they need.
FEATURE_SCOPES: Mapping[str, str] = MappingProxyType(
    {
        "slash command /signoff": "commands",  # features.slash_commands
        "message shortcut Ask Signoff about this": "commands",  # features.shortcuts
    }
)
SLASH_COMMAND = "/signoff"
SHORTCUT_CALLBACK_ID = "signoff_ask_about"

HISTORY_SCOPES = frozenset({"channels:history", "groups:history", "im:history", "mpim:history"})

# Web API method the Slack channel calls -> the bot scopes it needs (empty: any bot token may call it).
# Socket Mode's `apps.connections.open` is called with the app-level token (connections:write), not
# the bot token, so it is not a bot scope.
METHOD_SCOPES: Mapping[str, frozenset[str]] = MappingProxyType(
    {
        "auth.test": frozenset(),  # Bolt: the bot's own user id, to ignore its own messages
        "chat.postMessage": frozenset({"chat:write"}),  # replies, cards, questions, notes (a user id: their DM)
        "chat.update": frozenset({"chat:write"}),  # the card once decided
        "chat.postEphemeral": frozenset({"chat:write"}),  # "already decided by ..." / "you may not decide this"
        "chat.getPermalink": frozenset(),  # links between a routed card and its thread
        "views.open": frozenset(),  # the deny-reason and answer modals, notes for clicks in the Home tab
        "views.publish": frozenset(),  # the App Home tab
        "usergroups.users.list": frozenset({"usergroups:read"}),  # approvers given as a user group (S...)
        "conversations.open": frozenset({"im:write"}),  # a request's copy in each approver's DM (agent/places.py)
        # A retried message looks for its earlier post (sent_before.py); Slack asks for the history
        # scope of the conversation's kind, the ones the message events already need.
        "conversations.replies": HISTORY_SCOPES,
        "conversations.history": HISTORY_SCOPES,
    }
)

REQUIRED_EVENTS: frozenset[str] = frozenset(EVENT_SCOPES) | SCOPELESS_EVENTS
REQUIRED_SCOPES: frozenset[str] = (
    frozenset(EVENT_SCOPES.values()).union(*METHOD_SCOPES.values()).union(FEATURE_SCOPES.values())
)
