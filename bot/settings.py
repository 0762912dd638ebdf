"""Configuration, read once at start from the environment (and an optional `.env` file).

Every name is documented in README.md. Errors name the variable and say how to fix it.
"""

from __future__ import annotations

import base64
import binascii
import os
from datetime import timedelta
from pathlib import Path
from typing import Literal

from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.clock import LOOPBACK_HOSTS
from bot.errors import ConfigError

TlsMode = Literal["off", "starttls", "ssl"]
DEFAULT_DATABASE_URL = "sqlite:///signoff.db"
DEFAULT_AGENT = "bot.example_agent:agent"
# Storage threads kept for everything but the worker (Slack acks, the API, the outbox, the builder, email).
STORAGE_HEADROOM = 6
MIN_STORAGE_THREADS = STORAGE_HEADROOM + 2


def _env(name: str) -> AliasChoices:
    return AliasChoices(name, name.lower())


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=os.environ.get("SIGNOFF_ENV_FILE", ".env"),
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
    )

    database_url: str = Field(DEFAULT_DATABASE_URL, validation_alias=_env("SIGNOFF_DATABASE_URL"))
    model: str | None = Field(None, validation_alias=_env("SIGNOFF_MODEL"))
    model_api_base: str | None = Field(None, validation_alias=_env("SIGNOFF_MODEL_API_BASE"))
    model_api_key: SecretStr | None = Field(None, validation_alias=_env("SIGNOFF_MODEL_API_KEY"))
    model_timeout: float = Field(60.0, gt=0, validation_alias=_env("SIGNOFF_MODEL_TIMEOUT"))
    model_max_attempts: int = Field(4, ge=1, le=20, validation_alias=_env("SIGNOFF_MODEL_MAX_ATTEMPTS"))
    agent: str = Field(DEFAULT_AGENT, validation_alias=_env("SIGNOFF_AGENT"))
    # Several agents, their routes, webhooks and schedules (bot/deployment.py); SIGNOFF_AGENT is then unused.
    config: str | None = Field(None, validation_alias=_env("SIGNOFF_CONFIG"))
    schedule_interval: float = Field(15.0, gt=0, le=60, validation_alias=_env("SIGNOFF_SCHEDULE_INTERVAL"))
    host: str = Field("127.0.0.1", validation_alias=_env("SIGNOFF_HOST"))
    port: int = Field(8080, ge=0, le=65535, validation_alias=_env("SIGNOFF_PORT"))
    api_token: SecretStr | None = Field(None, validation_alias=_env("SIGNOFF_API_TOKEN"))
    api_token_may_decide: bool = Field(False, validation_alias=_env("SIGNOFF_API_TOKEN_MAY_DECIDE"))
    max_body_bytes: int = Field(1_048_576, ge=1024, validation_alias=_env("SIGNOFF_MAX_BODY_BYTES"))
    approvers: str = Field("", validation_alias=_env("SIGNOFF_APPROVERS"))
    secret_key: SecretStr | None = Field(None, validation_alias=_env("SIGNOFF_SECRET_KEY"))
    log_level: str = Field("INFO", validation_alias=_env("SIGNOFF_LOG_LEVEL"))
    workers: int = Field(8, ge=1, le=256, validation_alias=_env("SIGNOFF_WORKERS"))
    poll_interval: float = Field(0.5, gt=0, le=60, validation_alias=_env("SIGNOFF_POLL_INTERVAL"))
    lease_seconds: float = Field(30.0, ge=2, validation_alias=_env("SIGNOFF_LEASE_SECONDS"))
    tool_threads: int = Field(8, ge=1, le=256, validation_alias=_env("SIGNOFF_TOOL_THREADS"))
    shutdown_grace: float = Field(30.0, ge=0, le=3600, validation_alias=_env("SIGNOFF_SHUTDOWN_GRACE"))
    webhook_url: str | None = Field(None, validation_alias=_env("SIGNOFF_WEBHOOK_URL"))
    webhook_secret: SecretStr | None = Field(None, validation_alias=_env("SIGNOFF_WEBHOOK_SECRET"))
    callback_hosts: str = Field("", validation_alias=_env("SIGNOFF_CALLBACK_HOSTS"))
    callback_timeout: float = Field(10.0, gt=0, le=60, validation_alias=_env("SIGNOFF_CALLBACK_TIMEOUT"))
    storage_threads: int | None = Field(
        None, ge=MIN_STORAGE_THREADS, le=512, validation_alias=_env("SIGNOFF_STORAGE_THREADS")
    )
    worker_processes: int | None = Field(None, ge=0, le=64, validation_alias=_env("SIGNOFF_WORKER_PROCESSES"))
    # How much lower the worker processes' CPU priority is than the ingress's (Unix nice): when the
    # cores are busy with agent work, a Slack ack or an API call still gets the CPU first.
    worker_nice: int = Field(10, ge=0, le=19, validation_alias=_env("SIGNOFF_WORKER_NICE"))
    log_format: Literal["text", "json"] = Field("text", validation_alias=_env("SIGNOFF_LOG_FORMAT"))

    slack_bot_token: SecretStr | None = Field(None, validation_alias=_env("SLACK_BOT_TOKEN"))
    slack_signing_secret: SecretStr | None = Field(None, validation_alias=_env("SLACK_SIGNING_SECRET"))
    slack_app_token: SecretStr | None = Field(None, validation_alias=_env("SLACK_APP_TOKEN"))
    slack_api_url: str | None = Field(None, validation_alias=_env("SLACK_API_URL"))
    slack_approvals_channel: str | None = Field(None, validation_alias=_env("SLACK_APPROVALS_CHANNEL"))
    # The App Home tab is published at most once per person per this many seconds (bot/slack_home.py).
    slack_home_interval: float = Field(5.0, ge=0.1, le=600, validation_alias=_env("SIGNOFF_SLACK_HOME_INTERVAL"))

    email_address: str | None = Field(None, validation_alias=_env("SIGNOFF_EMAIL_ADDRESS"))
    imap_host: str | None = Field(None, validation_alias=_env("SIGNOFF_IMAP_HOST"))
    imap_port: int | None = Field(None, validation_alias=_env("SIGNOFF_IMAP_PORT"))
    imap_user: str | None = Field(None, validation_alias=_env("SIGNOFF_IMAP_USER"))
    imap_password: SecretStr | None = Field(None, validation_alias=_env("SIGNOFF_IMAP_PASSWORD"))
    imap_tls: TlsMode = Field("ssl", validation_alias=_env("SIGNOFF_IMAP_TLS"))
    smtp_host: str | None = Field(None, validation_alias=_env("SIGNOFF_SMTP_HOST"))
    smtp_port: int | None = Field(None, validation_alias=_env("SIGNOFF_SMTP_PORT"))
    smtp_user: str | None = Field(None, validation_alias=_env("SIGNOFF_SMTP_USER"))
    smtp_password: SecretStr | None = Field(None, validation_alias=_env("SIGNOFF_SMTP_PASSWORD"))
    smtp_tls: TlsMode = Field("starttls", validation_alias=_env("SIGNOFF_SMTP_TLS"))
    smtp_timeout: float = Field(30.0, gt=0, le=600, validation_alias=_env("SIGNOFF_SMTP_TIMEOUT"))
    imap_folder: str = Field("INBOX", validation_alias=_env("SIGNOFF_IMAP_FOLDER"))
    imap_poll_interval: float = Field(60.0, gt=0, le=3600, validation_alias=_env("SIGNOFF_IMAP_POLL_INTERVAL"))
    email_require_auth: bool = Field(True, validation_alias=_env("SIGNOFF_EMAIL_REQUIRE_AUTH"))
    email_authserv_id: str | None = Field(None, validation_alias=_env("SIGNOFF_EMAIL_AUTHSERV_ID"))
    email_max_bytes: int = Field(10_000_000, ge=10_000, validation_alias=_env("SIGNOFF_EMAIL_MAX_BYTES"))
    email_rate_limit: int = Field(30, ge=0, validation_alias=_env("SIGNOFF_EMAIL_RATE_LIMIT"))
    email_parse_timeout: float = Field(60.0, gt=0, le=600, validation_alias=_env("SIGNOFF_EMAIL_PARSE_TIMEOUT"))
    email_cc_joins: bool = Field(False, validation_alias=_env("SIGNOFF_EMAIL_CC_JOINS"))
    email_max_recipients: int = Field(10, ge=1, le=1000, validation_alias=_env("SIGNOFF_EMAIL_MAX_RECIPIENTS"))
    email_thread_rate_limit: int = Field(20, ge=0, validation_alias=_env("SIGNOFF_EMAIL_THREAD_RATE_LIMIT"))
    email_send_rate_limit: int = Field(200, ge=0, validation_alias=_env("SIGNOFF_EMAIL_SEND_RATE_LIMIT"))
    email_token_ttl: timedelta = Field(
        timedelta(days=14), gt=timedelta(0), validation_alias=_env("SIGNOFF_EMAIL_TOKEN_TTL")
    )

    # The web inbox (bot/web/).
    web_url: str | None = Field(None, validation_alias=_env("SIGNOFF_WEB_URL"))
    trusted_proxies: str = Field("", validation_alias=_env("SIGNOFF_TRUSTED_PROXIES"))
    web_session_hours: float = Field(12.0, gt=0, le=24 * 30, validation_alias=_env("SIGNOFF_WEB_SESSION_HOURS"))
    web_link_minutes: float = Field(15.0, gt=0, le=24 * 60, validation_alias=_env("SIGNOFF_WEB_LINK_MINUTES"))
    web_signin_rate_limit: int = Field(5, ge=0, validation_alias=_env("SIGNOFF_WEB_SIGNIN_RATE_LIMIT"))
    web_signin_ip_rate_limit: int = Field(20, ge=0, validation_alias=_env("SIGNOFF_WEB_SIGNIN_IP_RATE_LIMIT"))

    # Tests only (bot/clock.py): the timers' clock runs ahead of the system's by the file's offset.
    test_clock_file: Path | None = Field(None, validation_alias=_env("SIGNOFF_TEST_CLOCK_FILE"))

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        if not value.startswith(("sqlite:", "postgres:", "postgresql:", "postgresql+psycopg:")):
            raise ValueError("must start with sqlite:/// or postgresql://")
        return value

    @field_validator("email_token_ttl", mode="before")
    @classmethod
    def _seconds(cls, value: object) -> object:
        """A bare number is seconds (`1209600`); ISO 8601 (`P14D`) works too."""
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                return value
        return value

    @field_validator("web_url")
    @classmethod
    def _web_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if not value.startswith(("http://", "https://")) or "?" in value or "#" in value:
            raise ValueError("must be the inbox's address as people open it, e.g. https://signoff.example.com")
        return value.rstrip("/")

    @field_validator("test_clock_file")
    @classmethod
    def _test_clock(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        if value is None or str(value) == "":
            return None
        if info.data.get("host") not in LOOPBACK_HOSTS:
            raise ValueError(
                "the test clock is for tests only, and a server listening beyond loopback (SIGNOFF_HOST) "
                "refuses it: unset SIGNOFF_TEST_CLOCK_FILE"
            )
        return value

    @field_validator("webhook_url")
    @classmethod
    def _webhook_url(cls, value: str | None) -> str | None:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value or None

    @field_validator("webhook_secret")
    @classmethod
    def _webhook_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        raw = value.get_secret_value().removeprefix("whsec_")
        try:
            key = base64.b64decode(raw + "==", validate=False)
        except (ValueError, binascii.Error):
            key = b""
        if len(key) < 16 or not value.get_secret_value().startswith("whsec_"):
            raise ValueError("must be whsec_ followed by at least 16 bytes in base64")
        return value

    @model_validator(mode="after")
    def _webhook_pair(self) -> Settings:
        if self.webhook_url and self.webhook_secret is None:
            raise ValueError("SIGNOFF_WEBHOOK_URL needs SIGNOFF_WEBHOOK_SECRET to sign what it posts")
        if self.agent_is_webhook and not self.webhook_url:
            raise ValueError(
                "SIGNOFF_AGENT=webhook needs SIGNOFF_WEBHOOK_URL (and SIGNOFF_WEBHOOK_SECRET): where what people "
                "send the agent is posted"
            )
        return self

    @property
    def agent_is_webhook(self) -> bool:
        """SIGNOFF_AGENT=webhook: the agent lives elsewhere (bot/agent_webhook.py)."""
        return self.agent == "webhook"

    @field_validator("agent")
    @classmethod
    def _agent(cls, value: str) -> str:
        if ":" not in value and value != "webhook":
            raise ValueError("must be module:attribute, e.g. myagents.ops:agent, or webhook")
        return value

    @property
    def approver_list(self) -> list[str]:
        return [a.strip() for a in self.approvers.split(",") if a.strip()]

    @property
    def callback_host_list(self) -> list[str]:
        """The hosts (`host` or `host:port`) callbacks may go to; empty: any."""
        return [h.strip().lower() for h in self.callback_hosts.split(",") if h.strip()]

    @property
    def storage_pool(self) -> int:
        """Threads for storage calls (storage/async_store.py): by default the worker's share plus the headroom."""
        return self.storage_threads or self.worker_storage_share + STORAGE_HEADROOM

    @property
    def worker_storage_share(self) -> int:
        """At most this many storage threads serve the worker at a time: one per step in flight, two spare
        (the poll, a lease renewal); never so many that the rest has fewer than STORAGE_HEADROOM."""
        share = self.workers + 2
        return share if self.storage_threads is None else min(share, self.storage_threads - STORAGE_HEADROOM)

    @property
    def trusted_proxy_list(self) -> list[str]:
        return [a.strip() for a in self.trusted_proxies.split(",") if a.strip()]

    @property
    def worker_process_count(self) -> int:
        """Worker processes beside the ingress; 0 runs everything in one process. By default one
        per core but the one the ingress needs, at least one, at most 8."""
        if self.worker_processes is not None:
            return self.worker_processes
        return max(1, min(8, (os.cpu_count() or 2) - 1))

    @property
    def slack_enabled(self) -> bool:
        return self.slack_bot_token is not None

    @property
    def email_enabled(self) -> bool:
        return bool(self.email_address and self.imap_host)


FIXES = {
    "SIGNOFF_DATABASE_URL": "e.g. sqlite:///signoff.db or postgresql://user@127.0.0.1/signoff",
    "SIGNOFF_AGENT": "the agent as module:attribute, e.g. bot.example_agent:agent, or webhook (it lives elsewhere)",
    "SIGNOFF_CONFIG": "the path of the deployment file (signoff.toml) declaring the agents, hooks and schedules",
    "SIGNOFF_SCHEDULE_INTERVAL": "seconds between checks of the schedules, e.g. 15",
    "SIGNOFF_PORT": "a TCP port between 0 and 65535",
    "SIGNOFF_MAX_BODY_BYTES": "the largest HTTP request body read, in bytes, at least 1024, e.g. 1048576",
    "SIGNOFF_IMAP_TLS": "one of off, starttls, ssl",
    "SIGNOFF_SMTP_TLS": "one of off, starttls, ssl",
    "SIGNOFF_EMAIL_REQUIRE_AUTH": "true or false",
    "SIGNOFF_API_TOKEN_MAY_DECIDE": "true or false: whether the service token may decide and answer (with `by`)",
    "SIGNOFF_EMAIL_MAX_BYTES": "the largest message read, in bytes, e.g. 10000000",
    "SIGNOFF_EMAIL_RATE_LIMIT": "messages per sender per hour that get an answer; 0 for no limit",
    "SIGNOFF_EMAIL_PARSE_TIMEOUT": "seconds one inbound message may take to parse before it is quarantined, e.g. 60",
    "SIGNOFF_EMAIL_CC_JOINS": "true or false: whether a new thread's other To and Cc addresses get its replies",
    "SIGNOFF_EMAIL_MAX_RECIPIENTS": "the most addresses one reply goes to, e.g. 10",
    "SIGNOFF_EMAIL_THREAD_RATE_LIMIT": "messages sent per thread per hour; 0 for no limit",
    "SIGNOFF_EMAIL_SEND_RATE_LIMIT": "messages sent per hour in all; 0 for no limit",
    "SIGNOFF_IMAP_POLL_INTERVAL": "seconds between checks when the server has no IDLE, e.g. 60",
    "SIGNOFF_EMAIL_TOKEN_TTL": "how long a reply address stays valid: seconds, or ISO 8601 like P14D",
    "SIGNOFF_WEB_URL": "the inbox's address as people open it, e.g. https://signoff.example.com",
    "SIGNOFF_WEB_SESSION_HOURS": "how long a web sign-in lasts, in hours, e.g. 12",
    "SIGNOFF_WEB_LINK_MINUTES": "how long a sign-in link stays valid, in minutes, e.g. 15",
    "SIGNOFF_WEB_SIGNIN_RATE_LIMIT": "sign-in links per address per hour; 0 for no limit",
    "SIGNOFF_WEB_SIGNIN_IP_RATE_LIMIT": "sign-in links per client address per hour; 0 for no limit",
    "SIGNOFF_WEBHOOK_URL": (
        "the URL decided HumanLayer requests (and, with SIGNOFF_AGENT=webhook, what people send the agent) are "
        "posted to, e.g. https://agent.example.com/webhook"
    ),
    "SIGNOFF_WEBHOOK_SECRET": (
        "the Standard Webhooks secret: whsec_ and base64, e.g. "
        "whsec_$(python3 -c 'import base64,os;print(base64.b64encode(os.urandom(24)).decode())')"
    ),
    "SIGNOFF_CALLBACK_TIMEOUT": "seconds one callback POST may take, more than 0 and at most 60, e.g. 10",
    "SIGNOFF_SHUTDOWN_GRACE": "seconds a stop waits for steps in flight, 0 to 3600, e.g. 30",
    "SIGNOFF_WORKER_PROCESSES": "worker processes beside the ingress, 0 to 64; 0 runs everything in one process",
    "SIGNOFF_LOG_FORMAT": "text or json",
    "SIGNOFF_TEST_CLOCK_FILE": "unset it: it is for tests on loopback only",
    "SIGNOFF_STORAGE_THREADS": (
        f"threads for database calls, {MIN_STORAGE_THREADS} to 512; unset for SIGNOFF_WORKERS + {MIN_STORAGE_THREADS}"
    ),
}


def load_settings(**overrides: object) -> Settings:
    """Read the settings, or raise ConfigError naming each wrong variable and the fix."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            field = str(error["loc"][0]) if error["loc"] else "?"
            name = _variable_for(field)
            fix = FIXES.get(name, "")
            lines.append(f"{name}: {error['msg']}" + (f" ({fix})" if fix else ""))
        # One line, so a container's or a unit's last log line says all of it.
        raise ConfigError("invalid configuration: " + "; ".join(lines)) from exc


def _variable_for(field: str) -> str:
    info = Settings.model_fields.get(field)
    alias = info.validation_alias if info else None
    if isinstance(alias, AliasChoices):
        return str(alias.choices[0])
    return field.upper()


def env_file_path() -> Path:
    return Path(os.environ.get("SIGNOFF_ENV_FILE", ".env"))
