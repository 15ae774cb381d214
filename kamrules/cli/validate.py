"""`kamrules validate`: packs, or the whole config offline (every section, `crm:` and its
mapping, secret references, packs, overrides, snoozes), every problem located, all at once."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from kamrules.cli.common import err, formats, labelled, loaded_config, out
from kamrules.errors import Problem, ValidationFailed
from kamrules.inputs.boundary import cap


def config_problems(ctx: click.Context) -> tuple[list[Problem], list[Any], Path | None]:
    """(problems, loaded packs, config file) for the config found the usual way."""
    from kamrules.cli.wiring import connector_config, mapping_problems, secret_problems
    from kamrules.run.config import LoadedConfig, find_config, load_configured_packs
    from kamrules.run.snooze import load_snoozes, unknown_rule_problems

    problems: list[Problem] = []
    packs: list[Any] = []
    try:
        loaded = loaded_config(ctx)
    except ValidationFailed as exc:
        problems += exc.problems
        loaded = _crm_only(ctx, LoadedConfig, find_config)
        if loaded is None:
            return problems, packs, None
    else:
        try:
            packs = load_configured_packs(loaded)
        except ValidationFailed as exc:
            problems += exc.problems
        try:
            snoozes = load_snoozes(loaded.snoozes_path)
            problems += unknown_rule_problems(loaded.snoozes_path, snoozes, packs) if packs else []
        except ValidationFailed as exc:
            problems += exc.problems
    if loaded.file is not None:
        problems += secret_problems(loaded)
    try:
        config = connector_config(loaded)
    except ValidationFailed as exc:
        problems += exc.problems
    else:
        problems += mapping_problems(loaded, config)
    return problems, packs, loaded.file


def _crm_only(ctx: click.Context, loaded_cls: Any, find_config: Any) -> Any:
    """When the config as a whole does not validate, its `crm:` section is still checked."""
    from kamrules.inputs.yamlsrc import load_yaml, plain
    from kamrules.run.config import Config

    path, source = find_config(ctx.find_root().obj["config_path"])
    if path is None or not path.is_file():
        return None
    try:
        raw = load_yaml(path)
    except ValidationFailed:
        return None
    crm = raw.get("crm") if isinstance(raw, dict) else None
    if not isinstance(crm, dict):
        return None
    return loaded_cls(Config.model_construct(crm=plain(crm)), path, raw, path.resolve().parent,
                      source)


def _problem_json(p: Problem) -> dict[str, Any]:
    return {"file": p.location.file, "line": p.location.line, "column": p.location.column,
            "path": p.path, "message": p.message}


@click.command("validate")
@formats("text", "json")
@click.argument("packs", nargs=-1, required=False)
@click.pass_context
def validate_cmd(ctx: click.Context, packs: tuple[str, ...], fmt: str) -> None:
    """Check the config offline (every section, the crm: section and its mapping, secret
    references, packs, overrides, snoozes), or only the PACKS given; report every problem."""
    from kamrules.language.loader import load_packs, resolve_pack

    file: Path | None = None
    problems: list[Problem] = []
    loaded_packs: list[Any] = []
    if packs:
        try:
            loaded_packs = load_packs([resolve_pack(ref, Path.cwd()) for ref in packs])
        except ValidationFailed as exc:
            problems = list(exc.problems)
    else:
        problems, loaded_packs, file = config_problems(ctx)
    plays: dict[str, int] = {}
    try:  # every play problem of every pack, with the rest (docs/playbooks.md)
        from kamrules.playbooks.loader import plays_of

        for pack, _ in plays_of(loaded_packs):
            plays[pack.id] = plays.get(pack.id, 0) + 1
    except ValidationFailed as exc:
        problems += exc.problems
    problems = sorted(set(problems))
    summary = [{"id": p.id, "version": p.version, "rules": len(p.rules), "params": len(p.params),
                "plays": plays.get(p.id, 0)} for p in loaded_packs]
    if fmt == "json":
        click.echo(json.dumps({"ok": not problems, "config": str(file) if file else None,
                               "packs": summary, "problems": [_problem_json(p) for p in problems]},
                              indent=2))
    else:
        for p, pack in zip(summary, loaded_packs, strict=True):
            # "ok" only for a pack none of the problems is in (a play or translation's, found
            # after the rules loaded, said "ok" above its own error)
            mine = any(_within(x.location.file, pack.directory) for x in problems)
            out.print(f"{p['id']} {p['version']}: {p['rules']} rules, {p['params']} params,"
                      f" {'problems below' if mine else 'ok'}{_untranslated(pack)}")
        if file is not None and not problems:
            out.print(f"{file}: ok (crm, mapping, secret references, packs, overrides, snoozes)")
        for problem in cap(problems):  # 50 a file, then a count of the rest
            err.print(labelled("error", "red", str(problem)))
        if problems:
            err.print(f"{len(problems)} problem(s) found.")
    if problems:
        ctx.exit(2)


def _untranslated(pack: Any) -> str:
    """A note when the config's locale finds none of the pack's translations: its tasks keep
    the text as the pack wrote it (`locale: de` with kam-core, which ships ru and sr, wrote
    English tasks with German dates, and validate said only "ok")."""
    from kamrules.language.translation import in_order

    language = pack.locale.replace("-", "_").split("_")[0]
    if not pack.translations or language == "en" or in_order(pack.translations, pack.locale):
        return ""
    return (f"; no {pack.locale} translation (it has {', '.join(sorted(pack.translations))}):"
            " task text as the pack writes it")


def _within(file: str, folder: Path) -> bool:
    try:
        return Path(file).resolve().is_relative_to(Path(folder).resolve())
    except (OSError, ValueError):
        return False
