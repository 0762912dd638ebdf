"""Errors of the bot's wiring.

BotError
├── ConfigError        a setting is missing or wrong; the message names the variable and the fix
└── AgentLoadError     SIGNOFF_AGENT does not point at an Agent
"""


class BotError(Exception):
    pass


class ConfigError(BotError):
    pass


class AgentLoadError(BotError):
    pass
