"""Reading and validating a pack's `playbooks/*.yaml`: every problem, located, at once.

Plays are checked like rules (structure, facts, params, placeholders) and against their pack:
trigger rules and groups must exist, and a play id must not be a rule id (they share the
fingerprint namespace `pack/id/account...`).
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from jinja2 import TemplateError
from pydantic import TypeAdapter, ValidationError

from kamrules.errors import Location, Problem, ValidationFailed
from kamrules.evaluation.facts import REGISTRY
from kamrules.inputs.yamlsrc import closest, load_yaml, locate, problems_from, yaml_files
from kamrules.language.loader import LoadedPack
from kamrules.language.pack import OPERATORS
from kamrules.language.pack_cache import cached_beside
from kamrules.language.template import jinja_names, remember_names
from kamrules.language.textnames import PLAY_NAMES
from kamrules.playbooks.inherit import inherited_plays
from kamrules.playbooks.model import Playbook

PLAY_LIST = TypeAdapter(list[Playbook])
_CACHE: dict[tuple[Any, ...], list[Playbook]] = {}  # unchanged files are parsed once a process


def _key_hint(node: Any) -> list[str] | None:
    if isinstance(node, dict) and "fact" in node:
        return ["fact", *OPERATORS]
    return None


def play_files(directory: Path) -> list[Path]:
    return yaml_files(directory / "playbooks")


def load_plays(pack: LoadedPack) -> list[Playbook]:
    """The pack's plays, validated: those it inherits from the pack it extends (less those it
    disables), then its own; raise ValidationFailed with all problems of all files."""
    inherited = inherited_plays(pack)
    plays = [*inherited, *_own_plays(pack, {p.id: pack.base.id for p in inherited if pack.base})]
    problems = _translation_problems(pack, plays)
    if problems:
        raise ValidationFailed(problems)
    return plays


def _translation_problems(pack: LoadedPack, plays: list[Playbook]) -> list[Problem]:
    """A translated play or step that is not the pack's (a typo would leave its text English
    for good): located in the pack's own translation file where it is there."""
    steps = {p.id: [s.id for s in p.steps] for p in plays}
    disabled = pack.disabled_plays
    problems: list[Problem] = []
    for locale, tr in pack.translations.items():
        for play_id, text in tr.plays.items():
            if play_id in disabled:
                continue
            if play_id not in steps:
                where: tuple[str | int, ...] = ("plays", play_id)
                message = f"no play {play_id!r} in pack {pack.id!r}{closest(play_id, steps)}"
            else:
                unknown = [s for s in text.steps if s not in steps[play_id]]
                if not unknown:
                    continue
                where = ("plays", play_id, "steps", unknown[0])
                message = (f"play {play_id} has no step {unknown[0]!r}"
                           f"{closest(unknown[0], steps[play_id])}; its steps: {', '.join(steps[play_id])}")
            file = next((f for f in yaml_files(pack.directory / "translations") if f.stem == locale),
                        pack.directory / "translations" / f"{locale}.yaml")
            raw = load_yaml(file) if file.is_file() else None
            problems.append(Problem(locate(raw, where, str(file)), ".".join(map(str, where)), message))
    return problems


def _own_plays(pack: LoadedPack, taken: dict[str, str]) -> list[Playbook]:
    """The plays in the pack's own `playbooks/`; `taken`: inherited play id -> its pack."""
    files = play_files(pack.directory)
    key = (pack.directory.resolve(), pack.version, pack.template_syntax,
           frozenset(r.id for r in pack.rules),
           frozenset(taken), tuple((f.name, f.stat().st_mtime_ns, f.stat().st_size) for f in files))
    if key in _CACHE:
        return _CACHE[key]
    # on disk too (a command parsed them in 0.3 s): the entry names all they are checked against
    what = repr(("plays", pack.version, pack.template_syntax, sorted(r.id for r in pack.rules),
                 sorted(taken.items()),
                 sorted((n, repr(p.default)) for n, p in pack.params.items())))
    plays, names = cached_beside(pack, what, lambda: _with_names(pack, _parsed(pack, files, taken)))
    remember_names(names)
    _CACHE[key] = plays
    return plays


def _with_names(pack: LoadedPack, plays: list[Playbook]) -> tuple[list[Playbook], dict[str, frozenset[str]]]:
    """The plays, and the names each of their steps' Jinja texts reads (found when they were
    checked), kept with them: a run looks them up for every step (~0.03 s a process)."""
    names: dict[str, frozenset[str]] = {}
    if pack.template_syntax == "jinja":
        for source in (t for play in plays for step in play.steps
                       for t in (step.task.subject, step.task.body)):
            with contextlib.suppress(TemplateError):
                names[source] = jinja_names(source)
    return plays, names


def _parsed(pack: LoadedPack, files: list[Path], taken: dict[str, str]) -> list[Playbook]:
    params: dict[str, Any] = {name: p.default for name, p in pack.params.items()}
    params.update(dict.fromkeys(PLAY_NAMES))
    context = {"facts": REGISTRY, "params": params, "syntax": pack.template_syntax}
    rule_ids = {r.id for r in pack.rules}
    groups = {g for r in pack.rules for g in r.groups}
    problems: list[Problem] = []
    plays: list[Playbook] = []
    first: dict[str, Location] = {}
    for file in files:
        try:
            raw = load_yaml(file)
        except ValidationFailed as exc:
            problems += exc.problems
            continue
        try:
            parsed = PLAY_LIST.validate_python(raw, context=context)
        except ValidationError as exc:
            problems += problems_from(exc, raw, str(file), Playbook, _key_hint)
            continue
        for i, play in enumerate(parsed):
            where = locate(raw, (i, "id"), str(file))
            if play.id in first:
                problems.append(Problem(where, "id", f"duplicate play id {play.id!r};"
                                        f" first defined at {first[play.id]}"))
            first.setdefault(play.id, where)
            if play.id in rule_ids:
                problems.append(Problem(where, "id", f"play id {play.id!r} is also a rule id"))
            if play.id in taken:
                problems.append(Problem(where, "id", f"play {play.id} is already in {taken[play.id]};"
                                        " disable it and add one with a new id"))
            for j, rule_id in enumerate(play.trigger.rules):
                if rule_id not in rule_ids:
                    problems.append(Problem(
                        locate(raw, (i, "trigger", "rules", j), str(file)), f"[{i}].trigger.rules[{j}]",
                        f"unknown rule {rule_id!r}{closest(rule_id, rule_ids)} in pack {pack.id!r}"))
            for j, rule_id in enumerate(play.absorbs):
                if rule_id not in rule_ids:
                    problems.append(Problem(
                        locate(raw, (i, "absorbs", j), str(file)), f"[{i}].absorbs[{j}]",
                        f"unknown rule {rule_id!r}{closest(rule_id, rule_ids)} in pack {pack.id!r}"))
            group = play.trigger.group
            if group is not None and group not in groups:
                problems.append(Problem(
                    locate(raw, (i, "trigger", "group"), str(file)), f"[{i}].trigger.group",
                    f"no rule of pack {pack.id!r} is in group {group!r};"
                    f" groups: {', '.join(sorted(groups)) or '(none)'}"))
        plays += parsed
    if problems:
        raise ValidationFailed(problems)
    return plays


def plays_of(packs: list[LoadedPack]) -> list[tuple[LoadedPack, Playbook]]:
    """Every enabled play of the packs, with its pack; problems of all packs at once."""
    problems: list[Problem] = []
    out: list[tuple[LoadedPack, Playbook]] = []
    for pack in packs:
        try:
            out += [(pack, p) for p in load_plays(pack) if switched_on(pack, p)]
        except ValidationFailed as exc:
            problems += exc.problems
    if problems:
        raise ValidationFailed(problems)
    return out


def play_ids(pack: LoadedPack) -> set[str]:
    """The ids of the pack's plays, which a config's or a what-if's `disable` may name (none
    when they do not load: `plays_of` reports why)."""
    try:
        return {p.id for p in load_plays(pack)}
    except ValidationFailed:
        return set()


def switched_on(pack: LoadedPack, play: Playbook) -> bool:
    """Whether the play runs: enabled in its file, and not switched off by the config's (or an
    extending pack's) `disable:`."""
    return play.enabled and play.id not in pack.disabled_plays
