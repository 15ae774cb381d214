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
from typing import Any
from urllib.parse import quote, quote_plus

from pydantic import BaseModel, ConfigDict, model_validator

from kamrules.errors import ValidationFailed
from kamrules.inputs.boundary import read_bytes
from kamrules.inputs.sanitize import SURROGATES

MAX_SECRET_BYTES = 65_536  # a PEM private key is ~3 KB; a token a few hundred bytes


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


def inline_secret(error: dict[str, Any]) -> str | None:
    """The fix for a secret written into the YAML itself (a validation `error` of a SecretRef
    field given text), instead of pydantic's "Input should be ... SecretRef"; else None."""
    if not (isinstance(error.get("input"), str) and "SecretRef" in error.get("msg", "")):
        return None
    keys = [str(k) for k in error["loc"] if isinstance(k, str)]
    name = keys[-1] if keys else "secret"
    variable = "KAMRULES_" + "_".join(keys or ["secret"]).upper()
    return (f"a secret is written inline; never put it in the YAML: export it as an environment"
            f" variable and write `{name}: {{env: {variable}}}` (or keep it in a file:"
            f" `{name}: {{file: path/to/{name}}}`)")


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

    def read(self, base_dir: Path, token: bool = False) -> Secret:
        """The secret's value; a `token` (sent in an HTTP header) must be printable ASCII."""
        value = self._value(base_dir)
        if token:
            for i, char in enumerate(value, 1):
                if not " " < char < "\x7f":  # the character, never the token, is shown
                    raise SecretError(
                        f"{self.where()} has a character no token has at position {i}"
                        f" (U+{ord(char):04X}): was it pasted with quotes or a space?")
        return Secret(value)

    def _value(self, base_dir: Path) -> str:
        if self.env is not None:
            value = (os.environ.get(self.env) or "").strip()  # a pasted newline or space
            if not value:
                raise SecretError(f"environment variable {self.env} is not set or empty")
            if SURROGATES.search(value):  # bytes that are not UTF-8 (os.environ's escapes)
                raise SecretError(f"environment variable {self.env} is not UTF-8 text")
            return value
        path = Path(str(self.file)).expanduser()
        if not path.is_absolute():
            path = base_dir / path
        # a regular file, read to a bound (`/dev/zero` or a FIFO named by mistake never ended),
        # as UTF-8 text without the BOM Windows editors write (it was sent as the token's start)
        try:
            value = read_bytes(path, MAX_SECRET_BYTES).decode("utf-8").lstrip("\ufeff").strip()
        except ValidationFailed as exc:
            raise SecretError(f"cannot read secret file {path}: {exc.problems[0].message}") from None
        except UnicodeDecodeError:
            raise SecretError(f"secret file {path} is not UTF-8 text; save it as UTF-8") from None
        if not value:
            raise SecretError(f"secret file {path} is empty")
        return value


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
