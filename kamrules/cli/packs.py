"""`kamrules validate`, `test`, `rules` and `facts`: the rule packs and the facts they read."""

from __future__ import annotations

import json

import click
from rich.table import Table

from kamrules.cli.common import labelled, out, packs_for
from kamrules.errors import CasesFailed
from kamrules.evaluation.facts import REGISTRY
from kamrules.language.loader import LoadedPack


@click.command("validate")
@click.argument("packs", nargs=-1, required=False)
@click.pass_context
def validate_cmd(ctx: click.Context, packs: tuple[str, ...]) -> None:
    """Check rule packs (folders or built-in names) and the config; report every problem."""
    from kamrules.playbooks.loader import load_plays, plays_of

    loaded_packs = packs_for(ctx, packs)
    plays_of(loaded_packs)  # every play problem of every pack, at once
    for pack in loaded_packs:
        out.print(f"{pack.id} {pack.version}: {len(pack.rules)} rules, {len(load_plays(pack))} plays,"
                  f" {len(pack.params)} params, ok")


@click.command("test")
@click.argument("packs", nargs=-1, required=False)
@click.pass_context
def test_cmd(ctx: click.Context, packs: tuple[str, ...]) -> None:
    """Run the YAML test cases of rule packs (folders or built-in names)."""
    from collections import Counter

    from kamrules.language.packtest import cases_of, run_cases

    failed = 0
    for pack in packs_for(ctx, packs):
        results = run_cases(pack, cases_of(pack.directory))
        per_rule: Counter[str] = Counter()
        for item, errors in results:
            for rule in (*item.case.fires, *item.case.silent):
                per_rule[rule] += 1
            if errors:
                failed += 1
                out.print(labelled("FAIL", "red", f"{item.location} {item.case.name}"))
                for e in errors:
                    out.print(f"       {e}")
        untested = [r.id for r in pack.rules if per_rule[r.id] == 0]
        out.print(f"{pack.id}: {len(results)} cases, {len(results) - sum(1 for _, e in results if e)}"
                  f" passed; rules without a case: {', '.join(untested) or 'none'}")
        failed += _play_cases(pack)
    if failed:
        raise CasesFailed(f"{failed} case(s) failed")


@click.command("rules")
@click.argument("packs", nargs=-1, required=False)
@click.option("--format", "fmt", type=click.Choice(["table", "markdown", "json"]),
              default="table", show_default=True, help="Output format.")
@click.pass_context
def rules_cmd(ctx: click.Context, packs: tuple[str, ...], fmt: str) -> None:
    """List the rules of the configured packs (or of the PACKS given)."""
    from kamrules.language.conditions import describe
    from kamrules.language.docs import pack_markdown

    loaded_packs = packs_for(ctx, packs)
    from kamrules.playbooks.docs import trigger_words
    from kamrules.playbooks.loader import load_plays

    if fmt == "markdown":
        click.echo("\n".join(pack_markdown(p) for p in loaded_packs), nl=False)
        return
    if fmt == "json":
        click.echo(json.dumps([
            {"pack": p.id, "id": r.id, "title": r.title, "severity": r.severity,
             "principles": r.principles, "enabled": r.id not in p.disabled and r.enabled,
             "when": describe(r.when, p.values)}
            for p in loaded_packs for r in p.rules
        ], indent=2))
        return
    table = Table()
    for column in ("pack", "id", "severity", "principles", "title", "fires when"):
        table.add_column(column, overflow="fold")
    for p in loaded_packs:
        for r in p.rules:
            off = "" if r.enabled and r.id not in p.disabled else " (disabled)"
            table.add_row(p.id, r.id + off, r.severity, ", ".join(r.principles), r.title,
                          describe(r.when, p.values))
        for play in load_plays(p):
            steps = " -> ".join(s.id for s in play.steps)
            table.add_row(p.id, play.id + ("" if play.enabled else " (disabled)"), play.severity,
                          ", ".join(play.principles), f"play: {play.title} ({steps})",
                          trigger_words(play, p))
    out.print(table)


@click.command("facts")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def facts_cmd(as_json: bool) -> None:
    """List every fact rules can read: name, type, unit and meaning."""
    specs = sorted(REGISTRY.values(), key=lambda s: s.name)
    if as_json:
        click.echo(json.dumps([
            {"name": s.name, "type": s.type, "unit": s.unit, "meaning": s.meaning,
             "principles": list(s.principles)} for s in specs], indent=2))
        return
    table = Table()
    for column in ("fact", "type", "unit", "meaning"):
        table.add_column(column, overflow="fold")
    for s in specs:
        table.add_row(s.name, s.type, s.unit, s.meaning)
    out.print(table)


def _play_cases(pack: LoadedPack) -> int:
    """Run a pack's play cases (playbooks/tests); print failures; return how many failed."""
    from kamrules.playbooks.cases import play_cases_of, run_play_case

    items = play_cases_of(pack.directory)
    if not items:
        return 0
    failed = 0
    for item in items:
        errors = run_play_case(pack, item)
        if errors:
            failed += 1
            out.print(labelled("FAIL", "red", f"{item.location} {item.case.name}"))
            for e in errors:
                out.print(f"       {e}")
    out.print(f"{pack.id}: {len(items)} play cases, {len(items) - failed} passed")
    return failed
