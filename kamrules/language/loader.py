"""Finding, reading and validating rule packs: every problem of every file, located, at once.

A pack is a folder: `pack.yaml` (id, version, description, params, optional inline rules),
optional `rules/*.yaml` (each a list of rules) and `tests/*.yaml` (its test cases).
"""

from __future__ import annotations

import contextlib
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from kamrules.errors import Location, Problem, ValidationFailed
from kamrules.evaluation.facts import REGISTRY
from kamrules.inputs.shipped import builtin_dir
from kamrules.inputs.yamlsrc import closest, load_yaml, locate, problems_from, yaml_files
from kamrules.language.conditions import MAX_CONJUNCTIONS, alternatives, rule_condition
from kamrules.language.digestfiles import DigestTemplate, pack_templates
from kamrules.language.numbers import check_number
from kamrules.language.pack import (
    OPERATORS,
    Lifecycle,
    PackHeader,
    Param,
    Rule,
    Scalar,
    TaskMode,
    TemplateSyntax,
)
from kamrules.language.translation import RuleText, Translation, in_order, load_translations

RULE_LIST = TypeAdapter(list[Rule])


def _key_hint(node: Any) -> list[str] | None:
    """Conditions are a union pydantic can't name keys for; a fact condition's are these."""
    if isinstance(node, dict) and "fact" in node:
        return ["fact", *OPERATORS]
    return None


@dataclass
class PlayWords:
    """What a play step's tasks say, in one language (`LoadedPack.step_text`)."""

    play_title: str
    rationale: str
    step_title: str
    subject: str
    body: str


@dataclass
class LoadedPack:
    """A validated pack with its params resolved (defaults, then config overrides)."""

    id: str
    version: str
    description: str
    directory: Path
    params: dict[str, Param]
    values: dict[str, Scalar | list[Scalar]]
    rules: list[Rule]
    lifecycle: Lifecycle
    sources: dict[str, Location] = field(default_factory=dict)
    disabled: set[str] = field(default_factory=set)
    template_syntax: TemplateSyntax = "simple"
    tasks: TaskMode = "per_rule"
    translations: dict[str, Translation] = field(default_factory=dict)
    # set from the config: the language of task text and how money is shown
    locale: str = "en"
    currency: str = "EUR"
    principles: dict[str, str] = field(default_factory=dict)  # declared: id -> name
    groups: dict[str, str] = field(default_factory=dict)  # declared: name -> what it covers
    base: LoadedPack | None = None  # the pack it extends: its plays come along (playbooks.inherit)
    disabled_plays: set[str] = field(default_factory=set)  # the base's plays it switches off
    digest_templates: dict[str, DigestTemplate] = field(default_factory=dict)  # its digest/ files
    # every task text's source (rules and translations, jinja syntax) -> the names it reads,
    # found when it was checked: kept with a cached pack (language/template.py `remember_names`)
    text_names: dict[str, frozenset[str]] = field(default_factory=dict)

    @property
    def active_rules(self) -> list[Rule]:
        return [r for r in self.rules if r.enabled and r.id not in self.disabled]

    def text(self, rule: Rule, locale: str | None = None) -> RuleText:
        """A rule's task subject and body in the locale (the rule's own text when untranslated)."""
        for tr in in_order(self.translations, locale or self.locale):
            if rule.id in tr.rules:
                return tr.rules[rule.id]
        return RuleText(title=rule.title, subject=rule.task.subject, body=rule.task.body)

    def step_text(self, play: Any, step: Any, locale: str | None = None) -> PlayWords:
        """A play's title and rationale, and one step's title and task text, in the locale (the
        play's own where untranslated); `play`, `step`: a playbooks.model Playbook and Step."""
        words = PlayWords(play.title, play.rationale.strip(), step.title, step.task.subject,
                          step.task.body)
        for tr in reversed(in_order(self.translations, locale or self.locale)):  # sr_Latn wins
            found = tr.plays.get(play.id)
            if found is None:
                continue
            words.play_title = found.title or words.play_title
            words.rationale = (found.rationale or "").strip() or words.rationale
            text = found.steps.get(step.id)
            if text is not None:
                words.step_title = text.title or words.step_title
                words.subject, words.body = text.subject, text.body
        return words

    def principle_names(self, rule: Rule, locale: str | None = None) -> str:
        """The rule's principles by name in the locale (English names as the fallback)."""
        names = []
        tried = [*in_order(self.translations, locale or self.locale), *in_order(self.translations, "en")]
        for code in rule.principles:
            name = next((tr.principles[code] for tr in tried if code in tr.principles), None)
            names.append(name or self.principles.get(code) or code)
        return "; ".join(names)

    def bundle_title(self, key: str, locale: str | None = None) -> str:
        tried = [*in_order(self.translations, locale or self.locale), *in_order(self.translations, "en")]
        return next((tr.bundles[key] for tr in tried if key in tr.bundles), key.replace("_", " "))


def builtin_packs() -> list[str]:
    return sorted(p.name for p in builtin_dir().iterdir() if (p / "pack.yaml").is_file())


def resolve_pack(ref: str, base: Path | None = None) -> Path:
    """A pack reference is a built-in pack's name or a path (relative to `base`)."""
    candidate = Path(ref).expanduser()
    if not candidate.is_absolute() and base is not None:
        candidate = base / candidate
    if candidate.name == "pack.yaml":
        candidate = candidate.parent
    from kamrules.language.registry import find_installed, split_ref

    # A folder is the pack when it holds one; a folder without pack.yaml of a pack's name (the
    # project `kamrules pack new NAME` makes in the config's folder) leaves the name to the pack.
    if candidate.is_dir() and ((candidate / "pack.yaml").is_file() or find_installed(ref) is None):
        return candidate
    if "/" not in ref and (builtin_dir() / ref / "pack.yaml").is_file():
        return builtin_dir() / ref
    installed = find_installed(split_ref(ref)[0])
    if installed is not None and installed.directory is not None and not installed.error:
        return installed.directory
    if installed is not None and installed.error:
        raise ValidationFailed([Problem(Location(ref), "", f"installed pack {ref!r}"
                                        f" ({installed.source}) cannot be used: {installed.error}")])
    raise ValidationFailed(
        [
            Problem(
                Location(ref), "",
                f"no rule pack here: not a folder with pack.yaml, nor an installed pack"
                f" ({', '.join(builtin_packs())}; `kamrules packs` lists them)",
            )
        ]
    )


def _validation_context(raw: Any) -> dict[str, Any]:
    params: dict[str, Any] = {}
    syntax = "simple"
    if isinstance(raw, dict) and isinstance(raw.get("params"), dict):
        for name, spec in raw["params"].items():
            params[str(name)] = spec.get("default") if isinstance(spec, dict) else None
    if isinstance(raw, dict) and raw.get("template_syntax") == "jinja":
        syntax = "jinja"
    declared: dict[str, Any] = {"principles": {}, "groups": {}}
    for kind in declared:
        given = raw.get(kind) if isinstance(raw, dict) else None
        if isinstance(given, dict | list):
            declared[kind] = {str(name): None for name in given}
    return {"facts": REGISTRY, "params": params, "syntax": syntax, **declared}


def load_pack(directory: Path, chain: tuple[str, ...] = ()) -> LoadedPack:
    """Read and validate one pack folder; raise ValidationFailed with all its problems.

    `chain`: the packs being loaded that extend this one (see registry.base_pack). A pack
    loaded before from the same files comes from the cache (see pack_cache.py)."""
    if chain:  # a base pack: part of the entry of the pack that extends it
        return _load_pack(directory, chain)
    from kamrules.language.pack_cache import cached
    from kamrules.language.template import remember_names

    pack: LoadedPack = cached(directory, _load_pack)
    base: LoadedPack | None = pack
    while base is not None:
        remember_names(base.text_names)
        base = base.base
    return pack


def _load_pack(directory: Path, chain: tuple[str, ...] = ()) -> LoadedPack:
    from kamrules.language import registry

    pack_file = directory / "pack.yaml"
    if not pack_file.is_file():
        raise ValidationFailed([Problem(Location(str(directory)), "", "no pack.yaml in this folder")])
    problems: list[Problem] = []
    raw = load_yaml(pack_file)
    context = _validation_context(raw)
    base: LoadedPack | None = None
    if isinstance(raw, dict) and isinstance(raw.get("extends"), str):
        base, found = registry.base_pack(raw["extends"], directory,
                                         (*chain, str(directory.resolve())))
        problems += _at_lines(found, raw, str(pack_file))
        for kind, names in registry.base_context(base).items() if base else ():
            context[kind] = {**names, **context[kind]}
        if base is not None and "template_syntax" not in raw:  # its rules are written like the base's
            context["syntax"] = base.template_syntax
    header: PackHeader | None = None
    try:
        header = PackHeader.model_validate(raw, context=context)
        problems += registry.fit_problems(header, str(pack_file))
    except ValidationError as exc:
        problems += problems_from(exc, raw, str(pack_file), PackHeader, _key_hint)

    sources: dict[str, list[Location]] = {}
    rules: list[Rule] = []
    if isinstance(raw, dict):
        _collect_ids(raw.get("rules"), raw, ("rules",), str(pack_file), sources)
    if header:
        rules += header.rules
    for rule_file in yaml_files(directory / "rules"):
        try:
            rule_raw = load_yaml(rule_file)
        except ValidationFailed as exc:
            problems += exc.problems
            continue
        _collect_ids(rule_raw, rule_raw, (), str(rule_file), sources)
        try:
            rules += RULE_LIST.validate_python(rule_raw, context=context)
        except ValidationError as exc:
            problems += problems_from(exc, rule_raw, str(rule_file), Rule, _key_hint)

    problems += _size_problems(rules, sources, str(pack_file))
    for rule_id, places in sources.items():
        for place in places[1:]:
            problems.append(
                Problem(place, "id", f"duplicate rule id {rule_id!r}; first defined at {places[0]}")
            )
    translations = load_translations(directory, context, {r.id for r in rules}, problems)
    digest_templates, found = pack_templates(directory)
    problems += found
    if problems or header is None:
        raise ValidationFailed(problems)
    pack = LoadedPack(
        id=header.id,
        version=header.version,
        description=header.description,
        directory=directory,
        params=header.params,
        values={name: p.default for name, p in header.params.items()},
        rules=rules,
        lifecycle=header.lifecycle,
        sources={rule_id: places[0] for rule_id, places in sources.items()},
        template_syntax=header.template_syntax,
        tasks=header.tasks,
        translations=translations,
        principles=dict(header.principles),
        groups=dict(header.groups) if isinstance(header.groups, dict)
        else dict.fromkeys(header.groups, ""),
        digest_templates=digest_templates,
        text_names=_names_by_text(context["syntax"], rules, translations),
    )
    if header.set or header.disable:
        problems += [] if base else [Problem(Location(str(pack_file)), "set",
                                             "`set:` and `disable:` need `extends:`")]
    if base is not None:
        problems += registry.extend(base, pack, header, str(pack_file), override_problems)
    if problems:
        raise ValidationFailed(_at_lines(problems, raw, str(pack_file)))
    return pack


def _at_lines(problems: list[Problem], raw: Any, file: str) -> list[Problem]:
    """pack.yaml's problems found after parsing (`extends`, `set.min_contacts`, `disable.0`)
    located at their line, as the parser's own are."""
    out = []
    for p in problems:
        if p.location == Location(file) and p.path:
            loc = tuple(int(k) if k.isdigit() else k for k in p.path.split("."))
            p = Problem(locate(raw, loc, file), p.path, p.message)
        out.append(p)
    return out


def _names_by_text(syntax: str, rules: list[Rule],
                   translations: dict[str, Translation]) -> dict[str, frozenset[str]]:
    """The names each task text reads (`LoadedPack.text_names`); its check found them already."""
    if syntax != "jinja":
        return {}
    from jinja2 import TemplateError

    from kamrules.language.template import jinja_names

    sources = [t for r in rules for t in (r.task.subject, r.task.body)]
    sources += [t for tr in translations.values() for text in tr.rules.values()
                for t in (text.subject, text.body)]
    sources += [t for tr in translations.values() for play in tr.plays.values()
                for text in play.steps.values() for t in (text.subject, text.body)]
    out = {}
    for source in sources:
        with contextlib.suppress(TemplateError):  # its rule failed to load: never rendered
            out[source] = jinja_names(source)
    return out


def _size_problems(rules: list[Rule], sources: dict[str, list[Location]], file: str) -> list[Problem]:
    """Rules too large for the engine to compile, named with the limit (what validates, runs)."""
    problems = []
    for rule in rules:
        count = alternatives(rule_condition(rule.scope, rule.when))
        if count > MAX_CONJUNCTIONS:
            where = sources.get(rule.id, [Location(file)])[0]
            problems.append(Problem(
                where, "when",
                f"rule {rule.id}: its condition expands to more than {MAX_CONJUNCTIONS} alternatives"
                " (the limit; `not` over `any`, and `any` inside `all`, multiply them); split it"
                " into several rules, or list values with `in`",
            ))
    return problems


def _collect_ids(
    rules: Any, root: Any, prefix: tuple[str, ...], file: str, out: dict[str, list[Location]]
) -> None:
    if not isinstance(rules, list):
        return
    for i, rule in enumerate(rules):
        if isinstance(rule, dict) and isinstance(rule.get("id"), str):
            out.setdefault(rule["id"], []).append(locate(root, (*prefix, i, "id"), file))


def load_packs(paths: list[Path]) -> list[LoadedPack]:
    """Load several packs, reporting every pack's problems and clashes between packs."""
    problems: list[Problem] = []
    packs: list[LoadedPack] = []
    for path in paths:
        try:
            packs.append(load_pack(path))
        except ValidationFailed as exc:
            problems += exc.problems
    seen: dict[str, LoadedPack] = {}
    for pack in packs:
        if pack.id in seen:
            same = seen[pack.id].directory.resolve() == pack.directory.resolve()
            problems.append(
                Problem(
                    Location(str(pack.directory / "pack.yaml")), "id",
                    f"pack {pack.id!r} is listed twice (in packs:, or by name and by its folder):"
                    " list it once" if same else
                    f"pack id {pack.id!r} is also used by {seen[pack.id].directory}",
                )
            )
        seen[pack.id] = pack
    if problems:
        raise ValidationFailed(problems)
    return packs


def override_problems(
    pack: LoadedPack, params: dict[str, Any], disable: list[str], plays: Collection[str] = ()
) -> list[tuple[tuple[str | int, ...], str]]:
    """Apply config overrides to a pack; return (config path, message) for each bad one.
    `plays`: the pack's play ids, which `disable` may name too (a config's, a what-if's)."""
    errors: list[tuple[tuple[str | int, ...], str]] = []
    for name, value in params.items():
        if name not in pack.params:
            errors.append(
                (("params", name), f"pack {pack.id!r} has no param {name!r}"
                 f"{closest(name, pack.params)}; its params: {', '.join(sorted(pack.params)) or '(none)'}")
            )
            continue
        default = pack.params[name].default
        if not _same_kind(default, value):
            errors.append(
                (("params", name), f"param {name!r} takes a value like {default!r}, got {value!r}")
            )
            continue
        try:
            check_number(value)
        except ValueError as exc:
            errors.append((("params", name), f"param {name!r}: {exc}"))
            continue
        pack.values[name] = value
    rule_ids = {r.id for r in pack.rules}
    for i, rule_id in enumerate(disable):
        if rule_id in plays and rule_id not in rule_ids:
            pack.disabled_plays.add(rule_id)
            continue
        if rule_id not in rule_ids:
            what = "rule or play" if plays else "rule"
            errors.append((("disable", i), f"pack {pack.id!r} has no {what} {rule_id!r}"
                           f"{closest(rule_id, rule_ids | set(plays))}"))
        pack.disabled.add(rule_id)
    return errors


def _same_kind(a: Any, b: Any) -> bool:
    if isinstance(a, list):
        return isinstance(b, list) and all(_same_kind(a[0], x) for x in b) if a else True
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool)
    if isinstance(a, int | float):
        return isinstance(b, int | float) and (isinstance(a, float) or isinstance(b, int))
    return isinstance(a, str) and isinstance(b, str)
