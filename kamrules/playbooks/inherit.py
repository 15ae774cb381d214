"""The plays an extending pack (`extends:`) takes from its base: all of them, less those it
disables; and the checks its `disable:` list gets for them (docs/plays-in-packs.md).

Inherited plays run under the extending pack's id, like its inherited rules, with its params
(`set:` values included). A play whose trigger is only rules (or a rule group) and whose every
trigger rule the extending pack disables could never start: the pack is refused, naming the
play and the fix, rather than dropping it quietly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kamrules.errors import Location, Problem, ValidationFailed

if TYPE_CHECKING:
    from kamrules.language.loader import LoadedPack
    from kamrules.playbooks.model import Playbook


def base_plays(base: LoadedPack) -> tuple[list[Playbook], list[Problem]]:
    """The base pack's plays (its own base's included), or the problems that stop them loading."""
    from kamrules.playbooks.loader import load_plays

    try:
        return load_plays(base), []
    except ValidationFailed as exc:
        return [], exc.problems


def split_disable(base: LoadedPack, names: list[str]) -> tuple[set[str], list[Problem]]:
    """The play ids among an extending pack's `disable:` entries (the rest name rules)."""
    plays, problems = base_plays(base)
    ids = {p.id for p in plays}
    return {n for n in names if n in ids}, problems


def trigger_problems(base: LoadedPack, pack: LoadedPack, file: str) -> list[Problem]:
    """Inherited plays left with no way to start: every trigger rule disabled, no `when`."""
    plays, _ = base_plays(base)
    live = {r.id for r in pack.active_rules}
    problems = []
    for play in plays:
        trigger = play.trigger
        if play.id in pack.disabled_plays or not play.enabled or trigger.when is not None:
            continue
        named = [r for r in pack.rules
                 if r.id in trigger.rules or (trigger.group is not None and trigger.group in r.groups)]
        if named and not any(r.id in live for r in named):
            problems.append(Problem(
                Location(file), "disable",
                f"play {play.id} of {base.id} starts only on rules this pack disables"
                f" ({', '.join(sorted(r.id for r in named))}): disable the play too"
                f" (`disable: [{play.id}]`) or keep one of its rules"))
    return problems


def inherited_plays(pack: LoadedPack) -> list[Playbook]:
    """The base's plays this pack keeps (none for a pack that extends nothing)."""
    if pack.base is None:
        return []
    plays, problems = base_plays(pack.base)
    if problems:
        raise ValidationFailed(problems)
    return [p for p in plays if p.id not in pack.disabled_plays]
