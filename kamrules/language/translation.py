"""A pack's translations: `translations/LOCALE.yaml`, its task text in another language."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, ValidationInfo, field_validator

from kamrules.language.pack import UserModel, check_template


class RuleText(UserModel):
    """A rule's task text in another language."""

    title: str | None = None
    subject: str = Field(min_length=1, max_length=255)
    body: str = Field(min_length=1)

    @field_validator("subject", "body")
    @classmethod
    def _known_names(cls, text: str, info: ValidationInfo) -> str:
        return check_template(text, info)


class Translation(UserModel):
    """`translations/LOCALE.yaml`: task text, bundle titles and principle names in one language."""

    principles: dict[Annotated[str, Field(pattern=r"^P\d{2}$")], str] = Field(default_factory=dict)
    bundles: dict[str, str] = Field(default_factory=dict)
    rules: dict[str, RuleText] = Field(default_factory=dict)
