"""`kamrules explain` and `history`: one account's rules with their facts, past runs."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import click
from rich.table import Table
from rich.text import Text

from kamrules.cli.common import AS_OF, as_of_date, labelled, loaded_config, out
from kamrules.errors import KamError
from kamrules.run.config import load_configured_packs


@click.command("explain")
@click.argument("account")
@AS_OF
@click.pass_context
def explain_cmd(ctx: click.Context, account: str, as_of: str | None) -> None:
    """Every rule for one ACCOUNT (id or exact name): holds or not, and the facts why."""
    from kamrules.cli.wiring import open_connector
    from kamrules.evaluation.engine import Engine, evidence_facts
    from kamrules.evaluation.facts import account_views, facts_for
    from kamrules.language.conditions import describe
    from kamrules.language.template import show

    loaded = loaded_config(ctx)
    packs = load_configured_packs(loaded)
    connector = open_connector(loaded)
    try:
        snapshot = connector.pull(as_of_date(as_of))
        tasks = connector.list_tasks(snapshot.as_of - timedelta(days=730))  # plays' state
    finally:
        connector.close()
    view = next((v for v in account_views(snapshot)
                 if account in (v.account.id, v.account.name)), None)
    if view is None:
        raise KamError(f"no account with id or name {account!r}")
    facts = facts_for(view)
    holding = set(Engine(packs).matches(facts))
    out.print(Text.assemble((view.account.name, "bold"), f" ({view.account.id}) as of {snapshot.as_of}"
                            f"{' - key account' if view.account.is_key else ''}"))
    for pack in packs:
        for rule in sorted(pack.active_rules, key=lambda r: r.id):
            holds = f"{pack.id}|{rule.id}" in holding
            mark = labelled("HOLDS", "red", "") if holds else labelled("ok   ", "green", "")
            out.print(mark + Text(f"{rule.id} {rule.title}"))
            out.print(f"        when {describe(rule.when, pack.values)}")
            values = ", ".join(f"{n}={show(facts.get(n))}" for n in evidence_facts(rule))
            out.print(f"        facts: {values}")
    _explain_plays(packs, view, facts, holding, snapshot, tasks)


def _explain_plays(packs: list, view: Any, facts: dict[str, Any], holding: set[str],
                   snapshot: Any, tasks: list) -> None:
    """Each play's state for the account, rebuilt from the CRM's tasks, and whether it triggers."""
    from kamrules.language.template import show
    from kamrules.playbooks.advance import Plays
    from kamrules.playbooks.loader import plays_of
    from kamrules.writeback.tasks import Directory

    plays = Plays(plays_of(packs))
    if not plays:
        return
    hits = [key.replace("|", "/") for key in holding]
    plays.observe(view.account, facts, hits, Directory.from_snapshot(snapshot, None))
    for state in plays.state(view.account.id, tasks, snapshot.as_of):
        trigger = "trigger holds" if state["trigger_holds"] else "trigger does not hold"
        since = f" since {state['started']}" if state["started"] else ""
        out.print(Text(f"PLAY  {state['play_id']} {state['title']}: {state['phase']}{since}; {trigger}"))
        values = ", ".join(f"{n}={show(v)}" for n, v in state["facts"].items())
        rules = f"; rules holding: {', '.join(state['trigger_rules'])}" if state["trigger_rules"] else ""
        out.print(f"        trigger facts: {values}{rules}")
        for step, status in state["steps"].items():
            out.print(f"        {step}: {status}")


@click.command("history")
@click.option("--limit", default=20, show_default=True, help="How many runs to show.")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.pass_context
def history_cmd(ctx: click.Context, limit: int, as_json: bool) -> None:
    """Past runs: when, outcome, counts and API calls."""
    from kamrules.run.state import StateStore

    store = StateStore(loaded_config(ctx).state_dir)
    runs = store.history(limit)
    store.close()
    if as_json:
        click.echo(json.dumps(runs, indent=2))
        return
    table = Table()
    for column in ("run", "started", "as of", "mode", "outcome", "counts", "API calls"):
        table.add_column(column)
    for r in runs:
        counts = ", ".join(f"{k} {v}" for k, v in r["counts"].items() if v)
        table.add_row(str(r["id"]), r["started"], r["as_of"], r["mode"], r["outcome"] or "",
                      counts, str(r["api_calls"] or 0))
    out.print(table)


