"""Secrets in configs (connectors, the digest's SMTP and webhook): named by an environment
variable or a file, never written inline.

`SecretRef` is what a user writes (`{env: SF_PASSWORD}` or `{file: ~/.kamrules/key.pem}`); its
value is read only when a connector opens, and `Secret` never shows it in str, repr or JSON.
"""

from __future__ import annotations

import base64
import os
import re
from pathlib import Path
from urllib.parse import quote, quote_plus

from pydantic import BaseModel, ConfigDict, model_validator


class SecretError(Exception):
    """A secret could not be read; the message names where it was looked for, never a value."""


class Secret:
    """A secret value that prints as `***`: safe in reprs, logs and tracebacks."""

    __slots__ = ("_value",)

    def __init__(self, value: str):
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__


class SecretRef(BaseModel):
    """Where a secret lives: exactly one of `env` (a variable name) or `file` (a path)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    env: str | None = None
    file: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> SecretRef:
        if (self.env is None) == (self.file is None):
            raise ValueError("give exactly one of env (a variable name) or file (a path)")
        return self

    def where(self) -> str:
        return f"environment variable {self.env}" if self.env else f"file {self.file}"

    def read(self, base_dir: Path) -> Secret:
        if self.env is not None:
            value = (os.environ.get(self.env) or "").strip()  # a pasted newline or space
            if not value:
                raise SecretError(f"environment variable {self.env} is not set or empty")
            return Secret(value)
        path = Path(str(self.file)).expanduser()
        if not path.is_absolute():
            path = base_dir / path
        try:
            value = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise SecretError(f"cannot read secret file {path}: {exc.strerror}") from None
        if not value:
            raise SecretError(f"secret file {path} is empty")
        return Secret(value)


MIN_MASKED = 4  # shorter values are not secrets worth corrupting every message for
ANYWHERE = 8  # this long or longer: masked even inside other text (a token glued to another)


def forms(value: str) -> list[str]:
    """The ways a secret shows up in text: as it is, URL-encoded, base64 (padded or not)."""
    raw = value.encode("utf-8")
    out = {value, quote(value, safe=""), quote_plus(value), quote(value)}
    for encoded in (base64.b64encode(raw), base64.urlsafe_b64encode(raw)):
        text = encoded.decode("ascii")
        out |= {text, text.rstrip("=")}
    return sorted((f for f in out if len(f) >= MIN_MASKED), key=len, reverse=True)


def redact(text: str, secrets: list[Secret]) -> str:
    """`text` with every secret replaced by ***, in any of its forms (see `forms`).

    A short secret is masked only as a whole token, never inside another word: a one-letter
    token must not turn "MaxRetryError" into "Ma***RetryError".
    """
    for secret in secrets:
        value = secret.reveal()
        if len(value) < MIN_MASKED:
            continue
        for form in forms(value):
            if len(form) >= ANYWHERE:
                text = text.replace(form, "***")
            else:
                text = re.sub(rf"(?<![A-Za-z0-9]){re.escape(form)}(?![A-Za-z0-9])", "***", text)
    return text
