"""Where the Redis server is, and clients that ride out its restarts.

With ``REDIS_URL`` set, that server is used and nothing is started. Without it, the embedded
Valkey of the configured data directory is started or adopted.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import redis
from redis.backoff import ExponentialWithJitterBackoff
from redis.retry import Retry

from pipeline.config import Settings
from workers.server import EmbeddedServer

_RETRIED_ERRORS = [redis.ConnectionError, redis.TimeoutError]


class RedisUnavailable(Exception):
    """The configured Redis cannot be reached; the message names the (redacted) URL."""


class PatientRedis(redis.Redis):
    """A client whose commands retry with backoff for about two minutes while the server is away.

    RQ builds worker connections with ``from_url`` of the class it is given, so the retry policy
    lives here rather than at each call site.
    """

    @classmethod
    def from_url(cls, url: str, **kwargs: object) -> PatientRedis:  # type: ignore[override]
        kwargs.setdefault("retry", Retry(ExponentialWithJitterBackoff(cap=2.0, base=0.1), retries=60))
        kwargs.setdefault("retry_on_error", list(_RETRIED_ERRORS))
        kwargs.setdefault("health_check_interval", 30)
        return super().from_url(url, **kwargs)  # type: ignore[return-value]


def redact(url: str) -> str:
    """The URL without its password, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username or ''}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


@dataclass
class Endpoint:
    """The server one deployment talks to, and the embedded server behind it if any."""

    url: str
    server: EmbeddedServer | None = None

    def client(self, patient: bool = False) -> redis.Redis:
        """A checked client: patient ones retry for minutes, impatient ones fail in seconds."""
        try:
            client = (PatientRedis if patient else redis.Redis).from_url(
                self.url, socket_connect_timeout=5, socket_timeout=30 if patient else 10)
        except ValueError as exc:
            raise RedisUnavailable(f"REDIS_URL {redact(self.url)!r} is not a valid Redis URL: {exc}") from None
        if not patient:
            try:
                client.ping()
            except redis.AuthenticationError:
                raise RedisUnavailable(f"Redis at {redact(self.url)} refused the credentials") from None
            except redis.RedisError as exc:
                raise RedisUnavailable(f"cannot reach Redis at {redact(self.url)}: {exc}") from None
        return client


def endpoint(settings: Settings, start: bool = True) -> Endpoint:
    """The deployment's server: REDIS_URL if set, else the embedded one (started if ``start``)."""
    url = os.environ.get("REDIS_URL", "").strip()
    if url:
        return Endpoint(url=url)
    server = EmbeddedServer(settings.data_dir)
    if start:
        server.start()
    return Endpoint(url=server.url, server=server)
