"""The Slack channel: Bolt app in, Web API out, approvals on Block Kit cards.

Modules: `app` (the Bolt app and its listeners), `connection` (HTTP at /slack/events, Socket Mode),
`inbound` (messages heard -> the core), `interactions` (Approve / Deny clicks, the deny modal),
`identity` (user groups for the allowed-to-decide check), `deliver` (`SlackChannel`: the outbox ->
Slack), `blocks` and `notes` (what is shown, untrusted text made inert), `home` and `home_publish`
(the App Home tab: its blocks, `views.publish`, permalinks), `commands` (`/signoff` and the message
shortcut), `manifest_requirements` (the events, scopes and features the code needs; `manifest.yml`
is tested against them).
"""
