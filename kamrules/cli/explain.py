"""`kamrules explain ACCOUNT`: every rule for one account, whether it holds, and the facts why.

Values are printed as the rule language writes them (true/false/null), so what explain shows
can be pasted into a rule or a test case's expected evidence.
"""

from __future__ import annotations

import json
from typing import Any

import click
from rich.text import Text

from kamrules.cli.common import AS_OF, as_of_date, formats, labelled, loaded_config, out
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


def _pull_views(ctx: click.Context, as_of: str | None) -> tuple[Any, list[Any], Any]:
    from kamrules.cli.wiring import open_connector
    from kamrules.evaluation.facts import account_views

    loaded = loaded_config(ctx)
    packs = load_configured_packs(loaded)
    connector = open_connector(loaded)
    try:
        snapshot = connector.pull(as_of_date(as_of))
    finally:
        connector.close()
    return snapshot, packs, list(account_views(snapshot))


@click.command("explain")
@formats("text", "json")
@click.argument("account")
@AS_OF
@click.pass_context
def explain_cmd(ctx: click.Context, account: str, as_of: str | None, fmt: str) -> None:
    """Every rule for one ACCOUNT (id, name in any case, or a unique start of the name):
    holds, ok or not applicable, and the fact values why."""
    from kamrules.cli.accounts import find_account
    from kamrules.evaluation.engine import Engine, evidence_facts
    from kamrules.evaluation.facts import facts_for
    from kamrules.language.conditions import describe

    snapshot, packs, views = _pull_views(ctx, as_of)
    account_id, _ = find_account(((v.account.id, v.account.name) for v in views), account)
    view = next(v for v in views if v.account.id == account_id)
    facts = facts_for(view)
    holding = set(Engine(packs, loaded_config(ctx).config.engine).matches(facts))
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
    if fmt == "json":
        click.echo(json.dumps({"account": {"id": view.account.id, "name": view.account.name,
                                           "key_account": view.account.is_key},
                               "as_of": snapshot.as_of.isoformat(), "rules": rows},
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
