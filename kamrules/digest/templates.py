"""Which digest templates a run uses, and rendering them (docs/plays-in-packs.md).

For each template (subject, email, html, chat): the file the config names under
`digest.templates`, else the first configured pack that ships it in `digest/` (an extending pack
has its base's), else kam-core's (the built-in default; there is no HTML one). Resolved and
compiled when the config's packs load, so a bad template stops the run before anything is pulled.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import StrictUndefined

from kamrules.errors import ValidationFailed
from kamrules.inputs.shipped import builtin_dir
from kamrules.language.bounded import BoundedSandbox
from kamrules.language.digestfiles import DigestTemplate, pack_templates, read_template
from kamrules.language.template import People, render_jinja

NAMES = ("subject", "email", "html", "chat")
REQUIRED = ("subject", "email", "chat")
DEFAULT_PACK = "kam-core"


@dataclass(frozen=True)
class Templates:
    by_name: dict[str, DigestTemplate]
    locale: str = "en"
    currency: str = "EUR"

    def render(self, name: str, values: dict[str, Any], as_of: date) -> str | None:
        """The named template rendered (None when there is no such template, e.g. html)."""
        template = self.by_name.get(name)
        if template is None:
            return None
        if name == "html":
            return _html_env(self.locale, self.currency, as_of).from_string(template.source).render(values)
        return render_jinja(template.source, values, self.locale, self.currency, as_of)


def resolve(configured: dict[str, str | None], packs: list[Any], base_dir: Path,
            locale: str = "en", currency: str = "EUR") -> Templates:
    """The templates for a run; raises ValidationFailed naming each one that cannot be used.
    Each in turn: the config's file; else the first pack's that ships it, in the locale's own
    folder (`digest/sr_Latn/`, then `digest/sr/`) before its `digest/`; else kam-core's so."""
    problems = []
    chosen: dict[str, DigestTemplate] = {}
    for name, file in configured.items():
        if file is None:
            continue
        path = Path(file).expanduser()
        template, found = read_template(path if path.is_absolute() else base_dir / path, name)
        problems += found
        if template is not None:
            chosen[name] = template
    name_ = locale.replace("-", "_")
    folders = [f"{n}/" for n in dict.fromkeys((name_, name_.split("_")[0]))] + [""]
    shipped = [getattr(pack, "digest_templates", {}) for pack in packs]  # compiled when loaded
    if any(name not in chosen for name in REQUIRED):
        defaults, found = pack_templates(builtin_dir() / DEFAULT_PACK)
        problems += found
        shipped.append({k: v for k, v in defaults.items() if k.split("/")[-1] in REQUIRED})
    for name in NAMES:
        if name in chosen or configured.get(name) is not None:
            continue
        template = next((t[folder + name] for t in shipped for folder in folders
                         if folder + name in t), None)
        if template is not None:
            chosen[name] = template
    if problems:
        raise ValidationFailed(problems)
    return Templates(chosen, locale, currency)


@lru_cache(maxsize=8)
def _html_env(locale: str, currency: str, as_of: date) -> BoundedSandbox:
    """The sandbox of task text, escaping every value for HTML."""
    people = People(locale, currency, as_of)
    env = BoundedSandbox(undefined=StrictUndefined, autoescape=True, trim_blocks=True,
                               lstrip_blocks=True, finalize=people.finalize)
    env.filters.update(num=people.num, money=people.money, pct=people.pct, plural=people.plural,
                       form=people.form, date=people.date, ago=people.ago)
    return env
