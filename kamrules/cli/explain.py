"""`kamrules explain ACCOUNT`: every rule for one account, whether it holds, and the facts why.

Values are printed as the rule language writes them (true/false/null), so what explain shows
can be pasted into a rule or a test case's expected evidence.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import click
from rich.text import Text

from kamrules.cli.common import AS_OF, as_of_date, formats, labelled, loaded_config, out
from kamrules.errors import KamError
from kamrules.language.packtest import literal
from kamrules.run.config import load_configured_packs

OPS = {"eq": lambda v, x: v == x, "ne": lambda v, x: v != x, "lt": lambda v, x: v < x,
       "le": lambda v, x: v <= x, "gt": lambda v, x: v > x, "ge": lambda v, x: v >= x,
       "in": lambda v, x: v in x, "not_in": lambda v, x: v not in x}


def _leaf_holds(leaf: Any, facts: dict[str, Any]) -> bool:
    value = facts.get(leaf.fact)
    if leaf.op in ("exists", "missing"):
        return (value is not None) == (leaf.op == "exists")
    return value is not None and bool(OPS[leaf.op](value, leaf.value))


def not_applicable(rule: Any, facts: dict[str, Any], params: dict[str, Any]) -> str | None:
    """Why the rule does not apply to this account (out of its scope), or None."""
    from kamrules.language.conditions import describe, dnf
    from kamrules.language.pack import ScopeFilter

    if rule.scope == "key_accounts" and facts.get("is_key") is not True:
        return "not applicable: key accounts only"
    if isinstance(rule.scope, ScopeFilter):
        conjunctions = dnf(rule.scope.filter, params)
        if not any(all(_leaf_holds(leaf, facts) for leaf in c) for c in conjunctions):
            return f"not applicable: only where {describe(rule.scope.filter, params)}"
    return None


def account_view(connector: Any, as_of: Any, query: str, size: int | None = None) -> tuple[Any, Any]:
    """The view of the account `query` names (`find_account`) and the snapshot holding it.

    A streaming connector (the local CRM) is read as a run reads it: the portfolio context from
    the accounts' few fields, then chunk after chunk until the one with the account, so memory
    holds one chunk (at 100,000 accounts explain pulled the whole CRM: 714 MB). Any other
    connector is pulled whole."""
    from kamrules.cli.accounts import find_account
    from kamrules.evaluation.facts import account_views, portfolio_context
    from kamrules.protocol.connector import StreamingConnector, SummaryConnector
    from kamrules.run.cleaning import clean
    from kamrules.run.sync import CHUNK_ACCOUNTS

    if not isinstance(connector, StreamingConnector):
        snapshot = clean(connector.pull(as_of))
        account_id, _ = find_account(((a.id, a.name) for a in snapshot.accounts), query)
        return next(v for v in account_views(snapshot) if v.account.id == account_id), snapshot
    summaries = list(connector.pull_account_summaries(as_of) if isinstance(connector, SummaryConnector)
                     else connector.pull_accounts(as_of))
    names: dict[str, str] = {}
    for s in summaries:  # an id given twice: the first, as a run keeps it
        names.setdefault(s.id, s.name)
    account_id, _ = find_account(names.items(), query)
    portfolio = portfolio_context(summaries, as_of)
    del summaries, names
    for chunk in connector.pull_chunks(as_of, size or CHUNK_ACCOUNTS):
        if any(a.id == account_id for a in chunk.accounts):
            snapshot = clean(chunk)
            return next(v for v in account_views(snapshot, portfolio) if v.account.id == account_id), snapshot
    raise KamError(f"account {account_id!r} was not in the CRM's records when they were read"
                   " (changed meanwhile?); run explain again")


@click.command("explain")
@formats("text", "json")
@click.argument("account")
@AS_OF
@click.pass_context
def explain_cmd(ctx: click.Context, account: str, as_of: str | None, fmt: str) -> None:
    """Every rule for one ACCOUNT (id, name in any case, or a unique start of the name):
    holds, ok or not applicable, and the fact values why."""
    from kamrules.cli.wiring import open_connector
    from kamrules.evaluation.engine import Engine, evidence_facts
    from kamrules.evaluation.facts import facts_for
    from kamrules.language.conditions import describe

    loaded = loaded_config(ctx)
    packs = load_configured_packs(loaded)
    connector = open_connector(loaded)
    try:
        view, snapshot = account_view(connector, as_of_date(as_of), account)
        tasks = connector.list_tasks(snapshot.as_of - timedelta(days=730))  # the plays' state
    finally:
        connector.close()
    facts = facts_for(view)
    holding = set(Engine(packs, loaded.config.engine).matches(facts))
    rows = []
    for pack in packs:
        for rule in sorted(pack.active_rules, key=lambda r: r.id):
            why = not_applicable(rule, facts, pack.values)
            status = "not_applicable" if why else (
                "holds" if f"{pack.id}|{rule.id}" in holding else "ok")
            rows.append({"pack": pack.id, "rule": rule.id, "title": rule.title,
                         "severity": rule.severity, "status": status, "note": why,
                         "when": describe(rule.when, pack.values),
                         "facts": {n: facts.get(n) for n in evidence_facts(rule)}})
    plays = _play_states(packs, view, facts, holding, snapshot, tasks)
    if fmt == "json":
        click.echo(json.dumps({"account": {"id": view.account.id, "name": view.account.name,
                                           "key_account": view.account.is_key},
                               "as_of": snapshot.as_of.isoformat(), "rules": rows,
                               "plays": plays},
                              indent=2, default=str))
        return
    out.print(Text.assemble((view.account.name, "bold"), f" ({view.account.id}) as of {snapshot.as_of}"
                            f"{' - key account' if view.account.is_key else ' - not a key account'}"))
    marks = {"holds": ("HOLDS", "red"), "ok": ("ok   ", "green"), "not_applicable": ("n/a  ", "dim")}
    for row in rows:
        label, style = marks[row["status"]]
        note = f" ({row['note']})" if row["note"] else ""
        out.print(labelled(label, style, "") + Text(f"{row['rule']} {row['title']}{note}"))
        out.print(f"        when {row['when']}")
        values = ", ".join(f"{n}={literal(v)}" for n, v in row["facts"].items())
        out.print(f"        facts: {values}")
    for state in plays:
        trigger = "trigger holds" if state["trigger_holds"] else "trigger does not hold"
        since = f" since {state['started']}" if state["started"] else ""
        out.print(Text(f"PLAY  {state['play_id']} {state['title']}: {state['phase']}{since}; {trigger}"))
        values = ", ".join(f"{n}={literal(v)}" for n, v in state["facts"].items())
        rules = f"; rules holding: {', '.join(state['trigger_rules'])}" if state["trigger_rules"] else ""
        out.print(f"        trigger facts: {values}{rules}")
        for step, status in state["steps"].items():
            out.print(f"        {step}: {status}")


def _play_states(packs: list[Any], view: Any, facts: dict[str, Any], holding: set[str],
                 snapshot: Any, tasks: list[Any]) -> list[dict[str, Any]]:
    """Each play's state for the account, rebuilt from the CRM's tasks, and why (docs/playbooks.md)."""
    from kamrules.playbooks.advance import Plays
    from kamrules.playbooks.loader import plays_of
    from kamrules.writeback.tasks import Directory

    plays = Plays(plays_of(packs))
    if not plays:
        return []
    hits = [key.replace("|", "/") for key in holding]
    plays.observe(view.account, facts, hits, Directory.from_snapshot(snapshot, None))
    return plays.state(view.account.id, tasks, snapshot.as_of)
