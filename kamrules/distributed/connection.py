"""The Redis URL (from the environment, with an optional password and TLS), and its safe form.

The URL may carry a password; it is read from the environment, used, and never printed:
`safe_url` is what status lines and errors show.
"""

from __future__ import annotations

import os
import ssl
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from kamrules.distributed.tenants import RedisSettings
from kamrules.errors import KamError


def redis_url(settings: RedisSettings, base_dir: Path) -> str:
    url = os.environ.get(settings.url_env, "")
    if not url:
        raise KamError(f"set {settings.url_env} to the Redis URL (redis://HOST:PORT/DB, or"
                       " rediss:// for TLS)")
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss"):
        raise KamError(f"{settings.url_env} must be a redis:// or rediss:// URL,"
                       f" got scheme {parts.scheme!r}")
    if settings.password_env:
        password = os.environ.get(settings.password_env)
        if not password:
            raise KamError(f"set {settings.password_env} to the Redis password")
        user = parts.username or ""
        netloc = f"{quote(user, safe='')}:{quote(password, safe='')}@{parts.hostname}"
        if parts.port:
            netloc += f":{parts.port}"
        url = urlunsplit(parts._replace(netloc=netloc))
    return url


def safe_url(url: str) -> str:
    """The URL without user or password: for output."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    return urlunsplit(parts._replace(netloc=host))


def ssl_options(settings: RedisSettings, base_dir: Path, url: str) -> dict[str, Any] | None:
    """Options for `rediss://`: verify the server (against `tls.ca_file` if given)."""
    if not url.startswith("rediss://"):
        return None
    tls = settings.tls
    options: dict[str, Any] = {"ssl_cert_reqs": ssl.CERT_REQUIRED}
    if tls is not None:
        for key, value in (("ssl_ca_certs", tls.ca_file), ("ssl_certfile", tls.cert_file),
                           ("ssl_keyfile", tls.key_file)):
            if value:
                options[key] = str((base_dir / value).resolve())
    return options


def connect(settings: RedisSettings, base_dir: Path) -> Any:
    """A redis-py client for locks, budgets and history."""
    import redis

    url = redis_url(settings, base_dir)
    return redis.Redis.from_url(url, decode_responses=True, socket_timeout=30,
                                **(ssl_options(settings, base_dir, url) or {}))
