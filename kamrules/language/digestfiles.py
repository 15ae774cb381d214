"""Digest templates a pack ships in `digest/` (or a config names): read through the input
boundary and compiled in the sandbox when the pack loads, so a template that does not compile or
reads an unknown name is a located error before any run (docs/plays-in-packs.md).

Jinja2 (sandboxed) with the task text's Babel filters (`date`, `num`, `plural`...).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from jinja2 import TemplateError, TemplateSyntaxError

from kamrules.errors import Location, Problem, ValidationFailed
from kamrules.inputs.boundary import read_text

FOLDER = "digest"
# file name in a pack's digest/ -> template name (the config's `digest.templates` keys)
FILES = {"subject.txt.j2": "subject", "email.txt.j2": "email", "email.html.j2": "html",
         "chat.j2": "chat"}
MAX_BYTES = 256 * 1024
# what every digest template may read (docs/plays-in-packs.md lists their shapes)
NAMES = frozenset({"owner_id", "owner_name", "as_of", "count", "intro", "subject", "channel",
                   "accounts", "items"})


@dataclass(frozen=True)
class DigestTemplate:
    name: str  # subject, email, html or chat
    source: str
    file: str  # where it was read, for messages


def check(template: DigestTemplate) -> list[Problem]:
    """Why the template cannot be used: it does not compile, or reads a name digests lack."""
    from kamrules.language.template import jinja_names

    try:
        names = jinja_names(template.source)
    except TemplateSyntaxError as exc:
        return [Problem(Location(template.file, exc.lineno or 0, 1), template.name,
                        f"not a valid Jinja template: {exc.message}")]
    except TemplateError as exc:
        return [Problem(Location(template.file), template.name, f"not a valid Jinja template: {exc}")]
    unknown = sorted(names - NAMES)
    if unknown:
        return [Problem(Location(template.file), template.name,
                        f"unknown name(s) {', '.join(unknown)}; a digest template may read"
                        f" {', '.join(sorted(NAMES))}")]
    return []


def read_template(path: Path, name: str) -> tuple[DigestTemplate | None, list[Problem]]:
    """One template file, bounded and compiled; (None, problems) when it cannot be used."""
    try:
        template = DigestTemplate(name, read_text(path, MAX_BYTES), str(path))
    except ValidationFailed as exc:
        return None, exc.problems
    problems = check(template)
    return (None if problems else template), problems


def pack_templates(directory: Path) -> tuple[dict[str, DigestTemplate], list[Problem]]:
    """The digest templates in a pack folder's `digest/`, by name (`email`), and those of a
    locale's folder in it by locale and name (`digest/ru/email.txt.j2`: `ru/email`); other files
    there are errors."""
    from kamrules.language.translation import locale_name

    folder = directory / FOLDER
    if not folder.is_dir():
        return {}, []
    found: dict[str, DigestTemplate] = {}
    problems: list[Problem] = []
    places = [(folder, "")] + [(sub, sub.name + "/") for sub in sorted(folder.iterdir())
                               if sub.is_dir() and not sub.name.startswith(".")]
    for place, prefix in places:
        if prefix and locale_name(place.name) != place.name:  # `locale: X` would never find it
            problems.append(Problem(Location(str(place)), "", locale_name(place.name)))
            continue
        for path in sorted(place.iterdir()):
            if path.name.startswith((".", "README")) or (not prefix and path.is_dir()):
                continue
            if path.name not in FILES:
                problems.append(Problem(Location(str(path)), "", "not a digest template; a pack's"
                                        f" digest/ holds {', '.join(FILES)}, and a folder of"
                                        " them per locale (digest/ru/)"))
                continue
            template, found_problems = read_template(path, FILES[path.name])
            problems += found_problems
            if template is not None:
                found[prefix + template.name] = template
    return found, problems
