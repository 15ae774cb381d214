"""What a run pulls of an account that is not key: only the record kinds something in the run
may read of it (issue #18).

37 of kam-core's 41 rules apply to key accounts only, and 87% of a portfolio is not key: of
those accounts a run reads the facts of the rules that apply to every account (their
conditions, evidence and task text) and of the plays (their triggers and step texts), and the
account team (task assignees, the plays' people). The record kinds those facts read are
declared with each fact (`reads=` in kamrules/evaluation/facts; tests/test_fact_reads.py
checks them); the other kinds are pulled of key accounts only, and an account that is not key
gets `Withheld` for them, which fails loudly if a fact reads it after all. A fact without a
declaration may read any kind: then everything is pulled, as before.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from kamrules.evaluation.engine import evidence_facts
from kamrules.evaluation.facts.registry import REGISTRY, VIEW_KINDS
from kamrules.language.conditions import facts_read, rule_condition
from kamrules.language.loader import LoadedPack
from kamrules.writeback.tasks import template_facts

ALWAYS = frozenset({"team"})  # the directory reads every account's team (assignees, plays)


def general_facts(packs: Iterable[LoadedPack], plays: Any) -> set[str]:
    """The facts a run may read of an account that is not key (`plays`: the run's `Plays`)."""
    names = set(plays.facts)
    for pack in packs:
        for rule in pack.active_rules:
            if rule.scope == "key_accounts":
                continue
            names.update(facts_read(rule_condition(rule.scope, rule.when)))
            names.update(evidence_facts(rule))
            names.update(template_facts(pack, rule))
    return names


def key_only_kinds(packs: Iterable[LoadedPack], plays: Any) -> frozenset[str]:
    """The record kinds nothing in the run reads of an account that is not key: pulled of key
    accounts only. None of them when a fact read of such accounts declares no `reads`."""
    kinds = set(ALWAYS)
    for name in general_facts(packs, plays):
        spec = REGISTRY.get(name)
        if spec is None or spec.reads is None:
            return frozenset()
        kinds |= spec.reads
    return VIEW_KINDS - kinds
