"""Safe rendering of task text: `{name}` looks a plain name up in a flat dict, nothing more.

No attribute access, no indexing, no format specs: a pack cannot reach into Python objects.
"""

from __future__ import annotations

from typing import Any

from kamrules.language.pack import PLACEHOLDER


def show(value: Any) -> str:
    """A fact or param value as a person reads it."""
    if value is None:
        return "unknown"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if value.is_integer():
            return f"{int(value):,}" if abs(value) >= 10_000 else str(int(value))
        return f"{value:,.2f}".rstrip("0").rstrip(".")
    if isinstance(value, list | tuple):
        return ", ".join(show(v) for v in value)
    return str(value)


def render(template: str, values: dict[str, Any]) -> str:
    """Replace each `{name}` with its shown value; `{{`/`}}` are literal braces."""

    def substitute(match: Any) -> str:
        token = match.group(0)
        if token == "{{":
            return "{"
        if token == "}}":
            return "}"
        name = match.group(1)
        return show(values[name]) if name in values else token

    return PLACEHOLDER.sub(substitute, template)
