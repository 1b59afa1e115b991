"""Where alerts go: a Slack incoming webhook and SMTP email, each a Dagster resource that is off when its environment
is unset.

Secrets (the webhook URL, which is its own credential, and the SMTP password) come only through `dagster.EnvVar`, so
Dagster shows the variable's name, never its value; anything these channels log passes through `redact` first,
because HTTP and SMTP errors like to quote the URL they failed on.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Mapping
from email.message import EmailMessage
from urllib.parse import urlsplit

import dagster as dg
import requests

from datafactory_assets.alerts.messages import Message
from datafactory_assets.settings import ConfigError

SLACK_ENV = "DATAFACTORY_SLACK_WEBHOOK_URL"
SMTP_ENV = {"host": "DATAFACTORY_SMTP_HOST", "port": "DATAFACTORY_SMTP_PORT", "user": "DATAFACTORY_SMTP_USER",
            "password": "DATAFACTORY_SMTP_PASSWORD", "sender": "DATAFACTORY_SMTP_FROM",
            "recipients": "DATAFACTORY_SMTP_TO", "ca_file": "DATAFACTORY_SMTP_CA_FILE"}
STARTTLS_ENV = "DATAFACTORY_SMTP_STARTTLS"
_FLAGS = {"1": True, "true": True, "yes": True, "on": True, "0": False, "false": False, "no": False, "off": False}
MASK = "***"


def redact(text: str, secrets: list[str | None]) -> str:
    """`text` with every secret (longest first, so a URL goes before its own path) replaced by ***."""
    for secret in sorted(filter(None, secrets), key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


class SlackChannel(dg.ConfigurableResource):
    """Posts each message as the `text` of a Slack incoming webhook; off without a URL."""

    webhook_url: str | None = None
    timeout_s: float = 10.0

    @property
    def enabled(self) -> bool:
        return bool(self.webhook_url)

    @property
    def endpoint(self) -> str:
        """Scheme and host only: the path of a webhook URL is its secret."""
        parts = urlsplit(self.webhook_url or "")
        return f"slack webhook {parts.scheme}://{parts.hostname}{f':{parts.port}' if parts.port else ''}/{MASK}"

    @property
    def secrets(self) -> list[str | None]:
        parts = urlsplit(self.webhook_url or "")
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        return [self.webhook_url, path if len(parts.path) > 1 else None, parts.query, parts.password]

    def send(self, message: Message) -> None:
        answer = requests.post(self.webhook_url, json={"text": message.text}, timeout=self.timeout_s)
        if not answer.ok:
            raise RuntimeError(f"HTTP {answer.status_code}: {answer.text[:200]}")


class EmailChannel(dg.ConfigurableResource):
    """Sends each message as a plain-text email; STARTTLS and login only when configured; off without a host."""

    host: str | None = None
    port: int = 25
    user: str | None = None
    password: str | None = None
    sender: str | None = None
    recipients: str | None = None  # comma-separated
    starttls: bool = False
    ca_file: str | None = None  # trust a private relay's certificate authority
    timeout_s: float = 10.0

    @property
    def enabled(self) -> bool:
        return bool(self.host)

    @property
    def endpoint(self) -> str:
        return f"smtp {self.host}:{self.port}"

    @property
    def secrets(self) -> list[str | None]:
        return [self.password]

    def send(self, message: Message) -> None:
        email = EmailMessage()
        email["Subject"], email["From"] = message.subject, self.sender
        email["To"] = ", ".join(r.strip() for r in (self.recipients or "").split(",") if r.strip())
        email.set_content(message.body)
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout_s) as smtp:
            if self.starttls:
                smtp.starttls(context=ssl.create_default_context(cafile=self.ca_file))
            if self.user:
                smtp.login(self.user, self.password or "")
            smtp.send_message(email)


def channel_resources(env: Mapping[str, str]) -> dict[str, dg.ConfigurableResource]:
    """`alert_slack` and `alert_email`, each bound to its environment through `dg.EnvVar` when set, else off.

    A half-configured email channel (a host but no sender or recipients, a port or STARTTLS flag that is not one)
    fails at load with the variable's name rather than at the first alert.
    """
    slack = SlackChannel(webhook_url=dg.EnvVar(SLACK_ENV)) if env.get(SLACK_ENV) else SlackChannel()
    if not env.get(SMTP_ENV["host"]):
        return {"alert_slack": slack, "alert_email": EmailChannel()}
    for field in ("sender", "recipients"):
        if not env.get(SMTP_ENV[field], "").strip():
            raise ConfigError(f"{SMTP_ENV['host']} is set but {SMTP_ENV[field]} is not: email alerts need both")
    if env.get(SMTP_ENV["port"]) and not env[SMTP_ENV["port"]].isdigit():
        raise ConfigError(f"{SMTP_ENV['port']} must be a port number, got {env[SMTP_ENV['port']]!r}")
    flag = env.get(STARTTLS_ENV, "false").strip().lower()
    if flag not in _FLAGS:
        raise ConfigError(f"{STARTTLS_ENV} must be one of {sorted(_FLAGS)}, got {env[STARTTLS_ENV]!r}")
    fields = {f: dg.EnvVar(SMTP_ENV[f]) for f in ("host", "user", "password", "sender", "recipients", "ca_file")
              if env.get(SMTP_ENV[f])}
    port = dg.EnvVar.int(SMTP_ENV["port"]) if env.get(SMTP_ENV["port"]) else (587 if _FLAGS[flag] else 25)
    return {"alert_slack": slack, "alert_email": EmailChannel(**fields, port=port, starttls=_FLAGS[flag])}


def channels_configured(env: Mapping[str, str]) -> bool:
    """Whether any channel has its environment set, decided at load (EnvVar values are resolved later)."""
    return bool(env.get(SLACK_ENV) or env.get(SMTP_ENV["host"]))


def deliver(messages: list[Message], channels: list[SlackChannel | EmailChannel], log) -> int:
    """Send every message on every enabled channel; returns how many sends succeeded.

    A channel that fails is logged, secrets masked, and the others still get the message: an alert sensor never
    fails a tick because Slack or the mail relay is down (the alert is not retried, to avoid duplicates on the
    channels that did get it).
    """
    sent = 0
    for message in messages:
        for channel in (c for c in channels if c.enabled):
            try:
                channel.send(message)
                sent += 1
            except Exception as exc:  # noqa: BLE001 - any failure of one channel must not stop the others
                log.warning(redact(f"{channel.endpoint}: could not deliver {message.subject!r}: "
                                   f"{type(exc).__name__}: {exc}", channel.secrets))
    return sent
