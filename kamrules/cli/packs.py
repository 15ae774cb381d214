"""`kamrules test`, `rules` and `facts`: the rule packs and the facts they read."""

from __future__ import annotations

import json

import click

from kamrules.cli.common import formats, labelled, out, packs_for, print_table
from kamrules.errors import CasesFailed
from kamrules.evaluation.facts import REGISTRY
from kamrules.language.loader import LoadedPack


@click.command("test")
@formats("text", "json")
@click.argument("packs", nargs=-1, required=False)
@click.option("--engine", type=click.Choice(["auto", "durable", "python"]), default=None,
              help="Rule engine for the cases. Default: auto (durable_rules where it imports).")
@click.pass_context
def test_cmd(ctx: click.Context, packs: tuple[str, ...], fmt: str, engine: str | None) -> None:
    """Run the YAML test cases of rule packs (folders or built-in names)."""
    from collections import Counter

    from kamrules.language.packtest import cases_of, run_cases

    failed = 0
    summary = []
    for pack in packs_for(ctx, packs):
        results = run_cases(pack, cases_of(pack.directory), kind=engine)
        per_rule: Counter[str] = Counter()
        failures = []
        for item, errors in results:
            for rule in (*item.case.fires, *item.case.silent):
                per_rule[rule] += 1
            if errors:
                failed += 1
                failures.append({"case": item.case.name, "location": str(item.location),
                                 "errors": errors})
                if fmt == "text":
                    out.print(labelled("FAIL", "red", f"{item.location} {item.case.name}"))
                    for e in errors:
                        out.print(f"       {e}")
        # a base pack's rules are its own cases' to test: listed, they buried the pack's own
        inherited = {r.id for r in pack.base.rules} if pack.base is not None else set()
        untested = [r.id for r in pack.rules if per_rule[r.id] == 0 and r.id not in inherited]
        summary.append({"pack": pack.id, "cases": len(results),
                        "passed": len(results) - len(failures), "failed": failures,
                        "untested_rules": untested})
        if fmt == "text":
            base = (f" ({len(inherited)} rules of {pack.base.id}, which it extends, are tested by"
                    f" {pack.base.id}'s cases)" if pack.base is not None else "")
            out.print(f"{pack.id}: {len(results)} cases, {len(results) - len(failures)}"
                      f" passed; rules without a case: {', '.join(untested) or 'none'}{base}")
        play_failures = _play_cases(pack, fmt == "text")
        summary[-1]["play_cases_failed"] = play_failures
        failed += len(play_failures)
    if fmt == "json":
        click.echo(json.dumps(summary, indent=2))
    if failed:
        raise CasesFailed(f"{failed} case(s) failed")


@click.command("rules")
@formats("text", "json", "markdown", "table")
@click.argument("packs", nargs=-1, required=False)
@click.pass_context
def rules_cmd(ctx: click.Context, packs: tuple[str, ...], fmt: str) -> None:
    """List the rules of the configured packs (or of the PACKS given); markdown is the pack's
    generated README (`table` is the old name of text)."""
    from kamrules.language.conditions import describe
    from kamrules.language.docs import pack_markdown
    from kamrules.playbooks.docs import trigger_words
    from kamrules.playbooks.loader import load_plays, switched_on

    loaded_packs = packs_for(ctx, packs)
    if fmt == "markdown":
        click.echo("\n".join(pack_markdown(p) for p in loaded_packs), nl=False)
        return
    if fmt == "json":
        click.echo(json.dumps([
            {"pack": p.id, "id": r.id, "title": r.title, "severity": r.severity,
             "principles": r.principles, "groups": r.groups,
             "enabled": r.id not in p.disabled and r.enabled, "when": describe(r.when, p.values)}
            for p in loaded_packs for r in p.rules
        ], indent=2))
        return
    rows = []
    for p in loaded_packs:
        for r in p.rules:
            off = "" if r.enabled and r.id not in p.disabled else " (disabled)"
            rows.append((p.id, r.id + off, r.severity, ", ".join(r.principles), r.title,
                         describe(r.when, p.values)))
        for play in load_plays(p):  # plays beside the rules (`kamrules plays` for their steps)
            steps = " -> ".join(s.id for s in play.steps)
            rows.append((p.id, play.id + ("" if switched_on(p, play) else " (disabled)"), play.severity,
                         ", ".join(play.principles), f"play: {play.title} ({steps})",
                         trigger_words(play, p)))
    print_table(("pack", "id", "severity", "principles", "title", "fires when"), rows,
                wrap=("principles", "title", "fires when"))


@click.command("facts")
@formats("text", "json")
def facts_cmd(fmt: str) -> None:
    """List every fact rules can read: name, type, unit and meaning."""
    specs = sorted(REGISTRY.values(), key=lambda s: s.name)
    if fmt == "json":
        click.echo(json.dumps([
            {"name": s.name, "type": s.type, "unit": s.unit, "meaning": s.meaning,
             "principles": list(s.principles)} for s in specs], indent=2))
        return
    print_table(("fact", "type", "unit", "meaning"),
                [(s.name, s.type, s.unit, s.meaning) for s in specs], wrap=("meaning",))


def _play_cases(pack: LoadedPack, text: bool) -> list[dict[str, object]]:
    """Run a pack's play cases (playbooks/tests); print them as text; return the failures."""
    from kamrules.playbooks.cases import play_cases_of, run_play_case

    items = play_cases_of(pack.directory)
    failures: list[dict[str, object]] = []
    for item in items:
        errors = run_play_case(pack, item)
        if errors:
            failures.append({"case": item.case.name, "location": str(item.location), "errors": errors})
            if text:
                out.print(labelled("FAIL", "red", f"{item.location} {item.case.name}"))
                for e in errors:
                    out.print(f"       {e}")
    if items and text:
        out.print(f"{pack.id}: {len(items)} play cases, {len(items) - len(failures)} passed")
    return failures
