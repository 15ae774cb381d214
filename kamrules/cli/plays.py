"""`kamrules plays`: the plays of the configured packs (or of the PACKS given), and their docs."""

from __future__ import annotations

import json

import click

from kamrules.cli.common import formats, packs_for, print_table


@click.command("plays")
@formats("text", "json", "markdown", "table")
@click.argument("packs", nargs=-1, required=False)
@click.pass_context
def plays_cmd(ctx: click.Context, packs: tuple[str, ...], fmt: str) -> None:
    """List the plays (multi-step playbooks) of rule packs: trigger, steps and escalations;
    markdown is their generated README (`table` is the old name of text)."""
    from kamrules.playbooks.docs import escalation_words, plays_markdown, start_words, trigger_words
    from kamrules.playbooks.loader import load_plays, switched_on

    loaded = [(p, load_plays(p)) for p in packs_for(ctx, packs)]
    if fmt == "markdown":
        click.echo("\n".join(plays_markdown(p, plays) for p, plays in loaded), nl=False)
        return
    if fmt == "json":
        click.echo(json.dumps([
            {"pack": p.id, "id": play.id, "title": play.title, "severity": play.severity,
             "principles": play.principles, "enabled": switched_on(p, play),
             "cooldown_days": play.cooldown_days, "trigger": trigger_words(play, p),
             "steps": [{"id": s.id, "title": s.title, "opens": start_words(s),
                        "due_in_days": s.task.due_in_days, "assignee": s.task.assignee,
                        "escalation": escalation_words(s) or None} for s in play.steps]}
            for p, plays in loaded for play in plays
        ], indent=2))
        return
    rows = []
    for p, plays in loaded:
        for play in plays:
            off = "" if switched_on(p, play) else " (disabled)"
            rows.append((p.id, f"{play.id}{off} {play.title}", "", f"when {trigger_words(play, p)}", "", ""))
            rows += [("", "", s.id, start_words(s), f"{s.task.due_in_days} days", escalation_words(s))
                     for s in play.steps]
    print_table(("pack", "play", "step", "opens", "due", "escalation"), rows,
                wrap=("play", "opens", "escalation"))
