"""Installed rule packs: the built-in ones and those installed with pip, which announce
themselves through the entry point group `kamrules.packs` (name -> the package holding
pack.yaml); pins like `kam-core>=1,<2`; whether a pack fits this kamrules; `extends:`.
"""

from __future__ import annotations

import importlib.metadata as metadata
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from kamrules import __version__
from kamrules.errors import Location, Problem
from kamrules.evaluation.facts import REGISTRY
from kamrules.inputs.shipped import builtin_dir
from kamrules.inputs.yamlsrc import closest
from kamrules.language.translation import merged

if TYPE_CHECKING:
    from packaging.specifiers import SpecifierSet

    from kamrules.language.loader import LoadedPack
    from kamrules.language.pack import PackHeader

GROUP = "kamrules.packs"
# a pack named without a pin (`kam-core`): no need to import packaging (~20 ms of every start)
_PLAIN_NAME = re.compile(r"[A-Za-z0-9._-]+")


@dataclass
class InstalledPack:
    """A pack found by name: where its folder is and where it comes from."""

    name: str
    directory: Path | None
    source: str  # "built-in", or "<distribution> <version> (pip)"
    error: str | None = None  # why its entry point could not be loaded


def _folder(target: Any) -> Path:
    """An entry point names a package (its folder holds pack.yaml), a path, or a function
    returning one."""
    if isinstance(target, ModuleType):
        return Path(target.__file__ or "").resolve().parent
    if isinstance(target, Callable):  # type: ignore[arg-type]
        target = target()
    return Path(target).resolve()


def entry_point_packs() -> list[InstalledPack]:
    """Packs installed with pip: each entry point, in the order Python finds them."""
    found: list[InstalledPack] = []
    for ep in metadata.entry_points(group=GROUP):
        dist = ep.dist
        source = f"{dist.metadata['Name']} {dist.version} (pip)" if dist else "entry point"
        try:
            folder: Path | None = _folder(ep.load())
            error = None if (folder / "pack.yaml").is_file() else f"no pack.yaml in {folder}"
        except Exception as exc:  # a broken package must not hide the others
            folder, error = None, f"entry point {ep.value!r} does not load: {exc}"
        found.append(InstalledPack(ep.name, folder, source, error))
    return found


def every_pack() -> list[InstalledPack]:
    """Every pack found, built-in first: a pip pack under a built-in's name is never used, and a
    name two distributions claim is used by neither (which one loaded would be sys.path's
    order); each of those carries why."""
    packs = [InstalledPack(p.name, p, "built-in")
             for p in sorted(builtin_dir().iterdir()) if (p / "pack.yaml").is_file()]
    builtin = {p.name for p in packs}
    pip = sorted(entry_point_packs(), key=lambda p: p.name)
    for pack in pip:
        claims = [p.source for p in pip if p.name == pack.name]
        if pack.name in builtin:
            pack.error = f"not used: the built-in pack {pack.name} has this name"
        elif len(claims) > 1:
            pack.error = (f"{len(claims)} distributions provide the pack {pack.name!r}:"
                          f" {', '.join(claims)}; uninstall all but one")
    return packs + pip


def installed_packs() -> list[InstalledPack]:
    """Every pack usable by name (or named as unusable, with why): one per name."""
    packs: dict[str, InstalledPack] = {}
    for pack in every_pack():
        packs.setdefault(pack.name, pack)
    return list(packs.values())


def find_installed(name: str) -> InstalledPack | None:
    return next((p for p in installed_packs() if p.name == name), None)


def split_ref(ref: str) -> tuple[str, SpecifierSet | None]:
    """`kam-core>=1,<2` -> (kam-core, >=1,<2); a path or a bare name has no specifier."""
    if "/" in ref or "\\" in ref or ref.startswith((".", "~")) or _PLAIN_NAME.fullmatch(ref):
        return ref, None  # a name alone is what packaging's Requirement would make of it
    from packaging.requirements import InvalidRequirement, Requirement

    try:
        req = Requirement(ref)
    except InvalidRequirement:
        return ref, None
    return req.name, (req.specifier or None)


def version_problem(pack: LoadedPack, spec: SpecifierSet) -> str | None:
    """Why a pack's version does not satisfy a pin, or None."""
    from packaging.version import InvalidVersion, Version

    try:
        ok = Version(pack.version) in spec
    except InvalidVersion:
        ok = False
    if ok:
        return None
    return (f"pack {pack.id} is version {pack.version}, which does not satisfy {spec};"
            f" installed: {pack.directory}")


def fit_problems(header: PackHeader, file: str) -> list[Problem]:
    """Why a pack does not fit this kamrules: its `requires_kamrules` and `requires_facts`."""
    problems: list[Problem] = []
    if header.requires_kamrules:
        from packaging.specifiers import InvalidSpecifier, SpecifierSet
        from packaging.version import Version

        try:
            spec = SpecifierSet(header.requires_kamrules)
            if Version(__version__) not in spec:
                problems.append(Problem(
                    Location(file), "requires_kamrules",
                    f"pack {header.id} {header.version} needs kamrules {spec}; this is kamrules"
                    f" {__version__}: install a version of the pack made for it, or upgrade"))
        except InvalidSpecifier:
            problems.append(Problem(Location(file), "requires_kamrules",
                                    f"{header.requires_kamrules!r} is not a version specifier"
                                    " like '>=0.1,<1'"))
    missing = [f for f in header.requires_facts if f not in REGISTRY]
    if missing:
        problems.append(Problem(
            Location(file), "requires_facts",
            f"pack {header.id} needs facts this kamrules {__version__} does not derive:"
            f" {', '.join(missing)}; `kamrules facts` lists those it does"))
    return problems


def base_pack(name: str, folder: Path, chain: tuple[str, ...]) -> tuple[LoadedPack | None, list[Problem]]:
    """The pack named by `extends:` (a name, or a path from the pack's folder), loaded; `chain`
    holds the folders of the packs extending it, so a circle is named, not followed."""
    from kamrules.errors import ValidationFailed
    from kamrules.language.loader import load_pack, resolve_pack

    file = str(folder / "pack.yaml")
    try:
        path = resolve_pack(name, folder)
        if str(path.resolve()) in chain:
            return None, [Problem(Location(file), "extends",
                                  f"packs extend each other in a circle: {name} is {path}")]
        base = load_pack(path, chain)
        spec = split_ref(name)[1]  # `extends: kam-core>=2,<3`: the base versions it is made for
        why = version_problem(base, spec) if spec is not None else None
        return (None, [Problem(Location(file), "extends", why)]) if why else (base, [])
    except ValidationFailed as exc:
        # the base's own problems keep their file and line (str(p)); finding it has the name's
        return None, [Problem(Location(file), "extends",
                              f"base pack {name!r}: {p.message if p.location.file == name else p}")
                      for p in exc.problems]


def extend(base: LoadedPack, pack: LoadedPack, header: PackHeader, file: str,
           override: Callable[..., list[tuple[tuple[str | int, ...], str]]]) -> list[Problem]:
    """Make `pack` the base pack plus its own rules and params, with its `set:` values and
    `disable:` rules (and plays) applied to the base's; returns the problems."""
    problems = [Problem(pack.sources.get(r.id, Location(file)), "id",
                        f"rule {r.id} is already in {base.id}; disable it and add one with a new id")
                for r in pack.rules if r.id in {b.id for b in base.rules}]
    clash = sorted(set(header.params) & set(base.params))
    if clash:
        problems.append(Problem(Location(file), "params",
                                f"params {clash} are {base.id}'s: change them under `set:`"))
    pack.rules = [*base.rules, *pack.rules]
    pack.params = {**base.params, **pack.params}
    pack.values = {**base.values, **pack.values}
    pack.sources = {**base.sources, **pack.sources}
    pack.principles = {**base.principles, **pack.principles}
    pack.groups = {**base.groups, **pack.groups}
    pack.disabled |= base.disabled
    for key in ("lifecycle", "template_syntax", "tasks"):  # the base's rules need its settings
        if key not in header.model_fields_set:
            setattr(pack, key, getattr(base, key))
    pack.translations = merged(base.translations, pack.translations)
    # a template the pack writes (in any language) replaces the base's in every language
    own = {key.split("/")[-1] for key in pack.digest_templates}
    pack.digest_templates = {**{k: t for k, t in base.digest_templates.items()
                                if k.split("/")[-1] not in own}, **pack.digest_templates}
    pack.base = base  # its plays come along, less those `disable:` names (playbooks.inherit)
    from kamrules.playbooks.inherit import split_disable, trigger_problems

    pack.disabled_plays, found = split_disable(base, header.disable)
    problems += found
    rules_at = [i for i, name in enumerate(header.disable) if name not in pack.disabled_plays]
    for loc, message in override(pack, header.set, [header.disable[i] for i in rules_at]):
        if loc[0] == "disable":
            loc = ("disable", rules_at[int(loc[-1])])
            message += f" (nor a play of {base.id})"
        problems.append(Problem(Location(file), ".".join(("set" if loc[0] == "params" else "disable",
                                                          str(loc[-1]))), message))
    return problems + ([] if found else trigger_problems(base, pack, file))


def base_context(base: LoadedPack) -> dict[str, Any]:
    """What the extending pack's rules may name from its base: params, principles, groups."""
    return {"params": dict(base.values), "principles": dict.fromkeys(base.principles),
            "groups": dict.fromkeys(base.groups)}


def bases(pack: LoadedPack) -> Iterator[LoadedPack]:
    """The packs `pack` extends, nearest first."""
    base = pack.base
    while base is not None:
        yield base
        base = base.base


def unknown_pack(pack_id: str, packs: list[LoadedPack]) -> str:
    """Why a config (or a what-if's --set) naming `pack_id` names no loaded pack: a base pack is
    loaded only inside the pack extending it; else the nearest loaded id."""
    for pack in packs:
        if any(base.id == pack_id for base in bases(pack)):
            return (f"{pack_id!r} is loaded as the base of {pack.id!r}, which holds its params,"
                    f" rules and plays: name {pack.id!r} instead")
    ids = sorted(p.id for p in packs)
    return f"no loaded pack {pack_id!r}{closest(pack_id, ids)}; loaded: {', '.join(ids) or '(none)'}"


def loaded_twice(pack: LoadedPack, packs: list[LoadedPack]) -> str | None:
    """Why `pack` may not be loaded beside `packs`: one of them extends it, or one before it
    extends the same base, and so holds those rules and plays already (each finding of theirs
    was written twice, under two pack ids)."""
    mine = {base.id for base in bases(pack)}
    for k, other in enumerate(packs):
        if other is pack:
            continue
        theirs = {base.id for base in bases(other)}
        if pack.id in theirs:
            return (f"{pack.id!r} is also the base of {other.id!r}, which holds its rules and"
                    f" plays: load {other.id!r} alone (each finding of {pack.id!r} would be"
                    " written as two tasks)")
        shared = sorted(mine & theirs)
        if shared and other.id not in mine and k < next(i for i, p in enumerate(packs) if p is pack):
            return (f"{pack.id!r} and {other.id!r} both extend {shared[0]!r}, so each holds its rules"
                    f" and plays: load one pack that extends {shared[0]!r} (one may extend the"
                    f" other; each finding of {shared[0]!r} would be written as two tasks)")
    return None
