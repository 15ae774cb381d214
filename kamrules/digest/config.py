"""`digest:` in kamrules.yaml: the channels (SMTP email, a Slack-compatible webhook) and templates.

Credentials and the webhook URL (which is itself a credential for Slack) are secret references
`{env: NAME}` or `{file: path}`, read only when a digest is sent and never printed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, PrivateAttr, field_validator, model_validator

from kamrules.inputs.addresses import HostName
from kamrules.inputs.days import MAX_WAIT_SECONDS
from kamrules.inputs.secrets import SecretRef
from kamrules.language.pack import UserModel
from kamrules.language.textnames import check_line


class EmailSettings(UserModel):
    host: HostName
    port: int = Field(default=587, ge=1, le=65535)
    security: Literal["starttls", "tls", "none"] = "starttls"
    username: SecretRef | None = None
    password: SecretRef | None = None
    sender: str = Field(pattern=r"^[^@\s]+@[^@\s]+$")
    ca_bundle: str | None = None  # PEM file of a private CA the relay's certificate is signed by
    timeout_seconds: float = Field(default=30, gt=0, le=MAX_WAIT_SECONDS)

    @model_validator(mode="after")
    def _pair(self) -> EmailSettings:
        if (self.username is None) != (self.password is None):
            raise ValueError("give both username and password, or neither")
        return self


class WebhookSettings(UserModel):
    url: SecretRef
    timeout_seconds: float = Field(default=10, gt=0, le=MAX_WAIT_SECONDS)


class TemplateFiles(UserModel):
    """`digest.templates`: Jinja2 files (relative to the config) that replace the packs' ones."""

    subject: str | None = None
    email: str | None = None
    html: str | None = None  # an HTML part beside the email's text
    chat: str | None = None


# what a `{name}` subject or intro line is given (digest/build.py)
LINE_NAMES = ("count", "owner_name", "as_of")


class DigestSettings(UserModel):
    """One message per owner after each run, on each configured channel."""

    email: EmailSettings | None = None
    webhook: WebhookSettings | None = None
    templates: TemplateFiles = Field(default_factory=TemplateFiles)
    # a `{name}` subject line; when given it wins over any subject template
    subject: str | None = Field(default=None, min_length=1)
    # unset: INTRO in the locale's language (digest/build.py)
    intro: str | None = Field(default=None, min_length=1)
    overdue: bool = True  # list open tasks past their due date too
    _resolved: Any = PrivateAttr(default=None)

    @field_validator("subject", "intro")
    @classmethod
    def _line_names(cls, text: str | None) -> str | None:
        return None if text is None else check_line(text, LINE_NAMES, "a digest's subject or intro")

    def use(self, templates: Any) -> None:
        """The templates resolved for this config's packs (`digest.templates.resolve`)."""
        self._resolved = templates

    def resolved(self) -> Any:
        """The templates to render: those set by `use`, else the config's files and kam-core's."""
        if self._resolved is None:
            from kamrules.digest.templates import resolve

            self._resolved = resolve(self.templates.model_dump(), [], Path.cwd())
        return self._resolved

    @model_validator(mode="after")
    def _a_channel(self) -> DigestSettings:
        if self.email is None and self.webhook is None:
            raise ValueError("a digest needs a channel: email, webhook or both")
        return self
