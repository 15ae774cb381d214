"""What task text may name, and the check that it names nothing else: facts, params, the
built-in names every task has (and a play step's own), in either template syntax."""

from __future__ import annotations

import re
from typing import Any

from pydantic import ValidationInfo

from kamrules.inputs.yamlsrc import closest

PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([^{}]*)\}")
NAME = re.compile(r"^[a-z_][a-z0-9_]*$")
# `{{ contacts }}` (or `{{ potential | round }}`) in a simple-syntax text: Jinja's syntax, which
# the simple syntax renders as literal braces around the words, into every task
JINJA_OUTPUT = re.compile(r"\{\{(\s*)([A-Za-z_][A-Za-z0-9_]*)([^{}]*)\}\}")
# Template names every task can use besides facts and params.
BUILTIN_NAMES = (
    "account_name", "account_id", "owner_name", "rule_id", "rule_title", "severity",
    "principles", "principle_names", "rationale", "evidence", "pack_id",
)
# what a play step's text may name besides those (playbooks/playrun.py)
PLAY_NAMES = ("play_id", "play_title", "play_started", "step_id", "step_title")


def placeholders(template: str) -> list[str]:
    """The `{name}` placeholders of a task template (`{{` and `}}` are literal braces)."""
    return [m.group(1) for m in PLACEHOLDER.finditer(template) if m.group(1) is not None]


def check_template(text: str, info: ValidationInfo) -> str:
    """Every name a template reads is a fact, a param or a built-in; Jinja text must parse."""
    return check_text(text, info.context or {})


def check_text(text: str, context: dict[str, Any]) -> str:
    """`check_template` with its validation context (facts, params, syntax) given."""
    facts, params = context.get("facts"), context.get("params")
    if facts is None:
        return text
    known = set(facts) | set(params or {}) | set(BUILTIN_NAMES)
    if context.get("syntax") == "jinja":
        from jinja2 import TemplateError

        from kamrules.language.template import jinja_names

        try:
            names = jinja_names(text)
        except TemplateError as exc:
            raise ValueError(f"not a valid Jinja template: {exc}") from None
        for name in sorted(names - known):
            raise ValueError(
                f"unknown name {name!r}{closest(name, known)} in the template; use a fact, a"
                f" param or one of: {', '.join(BUILTIN_NAMES)}"
            )
        for name in placeholders(text):  # Jinja shows `{account_name}` as it is written
            if NAME.match(name):
                unknown = "" if name in known else f"; and {name!r} is no name{closest(name, known)}"
                raise ValueError(
                    f"{{{name}}} is the simple syntax, which this pack's texts are not"
                    f" (template_syntax: jinja): write {{{{ {name} }}}}{unknown}")
        return text
    _no_jinja(text, known, "a task", ", or set template_syntax: jinja in pack.yaml to write Jinja")
    for name in placeholders(text):
        if not NAME.match(name):
            raise ValueError(
                f"placeholder {{{name}}} is not a plain name; write {{fact}} or {{param}}"
                " (use {{ and }} for literal braces)"
            )
        if name not in known:
            raise ValueError(
                f"unknown placeholder {{{name}}}{closest(name, known)}; use a fact, a param"
                f" or one of: {', '.join(BUILTIN_NAMES)}"
            )
    return text


def _no_jinja(text: str, known: set[str] | tuple[str, ...], reader: str, other: str) -> None:
    """Jinja's `{{ name }}` in a `{name}` text: refused, since `reader` would show the braces."""
    for m in JINJA_OUTPUT.finditer(text):
        name, spaced = m.group(2), bool(m.group(1) or m.group(3))
        if name in known or spaced:
            unknown = "" if name in known else f"; and {name!r} is no name{closest(name, known)}"
            raise ValueError(
                f"{m.group(0)} is Jinja's syntax, which this text is not: {reader} would read"
                f" {m.group(0)[1:-1]!r}; write {{{name}}}{other}{unknown}")


def check_line(text: str, known: tuple[str, ...], what: str) -> str:
    """A `{name}` line of the config (`what`: a digest's subject or intro) reads only `known`
    (an unknown name was left in every message as written)."""
    _no_jinja(text, known, what, "")
    for name in placeholders(text):
        if name not in known:
            raise ValueError(
                f"unknown placeholder {{{name}}}{closest(name, known)}; {what} may read"
                f" {', '.join('{' + n + '}' for n in known)} (use {{{{ and }}}} for literal braces)")
    return text
