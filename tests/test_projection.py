"""What a run pulls of accounts that are not key (kamrules/run/projection.py): the record
kinds nothing in the run reads of them are pulled of key accounts only, and nothing else
changes; a rule over every account that reads such a kind, or a fact without declared reads,
brings every kind back."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from kamrules.connectors.local.crm import LocalCrm
from kamrules.connectors.local.demo import demo_portfolio
from kamrules.evaluation.facts.registry import VIEW_KINDS
from kamrules.language.loader import builtin_dir, load_pack
from kamrules.playbooks.advance import Plays
from kamrules.playbooks.loader import plays_of
from kamrules.run.projection import key_only_kinds
from tests.test_pack_validation import write_pack

DAY = date(2026, 11, 1)
RULE = """\
- id: MY-001
  title: Mine
  severity: high
  principles: [P09]
  rationale: Thin.
  scope: {scope}
  when: {{fact: {fact}, lt: 3}}
  task:
    subject: "{{account_name}}"
    body: "{{evidence}}"
"""


def _pack(root: Path, fact: str, scope: str = "all_accounts") -> Path:
    return write_pack(root, RULE.format(scope=scope, fact=fact))


def _kinds(*packs: Path) -> frozenset[str]:
    loaded = [load_pack(p) for p in packs]
    return key_only_kinds(loaded, Plays(plays_of(loaded), {p.id for p in loaded}))


def test_kam_core_reads_no_contacts_cases_or_plans_of_accounts_that_are_not_key() -> None:
    assert _kinds(builtin_dir() / "kam-core") == {"contacts", "cases", "plans"}


def test_a_rule_over_every_account_brings_the_kinds_its_facts_read(tmp_path: Path) -> None:
    assert _kinds(_pack(tmp_path / "deals", "won_deals_12m")) == VIEW_KINDS - {"team", "deals"}
    # a key-accounts rule reads anything: no change
    assert _kinds(_pack(tmp_path / "key", "contacts", "key_accounts")) == VIEW_KINDS - {"team"}
    # a fact whose reads are not declared may read any kind: every kind is pulled
    assert _kinds(builtin_dir() / "kam-core", _pack(tmp_path / "all", "contacts")) == frozenset()


def test_a_chunk_pulls_withheld_kinds_of_its_key_accounts_only(tmp_path: Path) -> None:
    crm = LocalCrm(tmp_path / "crm.sqlite")
    try:
        records = demo_portfolio(DAY, accounts=120)
        for kind, rows in records.items():
            crm.insert_records(kind, rows)
        # contacts that do not validate (kept unreadable) of a key account and of one that is not
        unread = {a["is_key"]: a["id"] for a in records["accounts"]}
        crm.insert_records("contacts", [
            {"id": f"BAD-{key}", "account_id": account, "name": "Ann", "created": "soon"}
            for key, account in unread.items()])
        plan = crm.chunk_plan(DAY, 25)
        assert plan is not None and len(plan.chunks) > 3
        reader = crm.reader()
        dropped, seen = 0, set()
        try:
            for span in plan.chunks:
                whole = reader.pull_chunk(DAY, span, plan.users)
                narrow = reader.pull_chunk(DAY, span, plan.users, frozenset({"contacts", "cases"}))
                key = {a.id for a in whole.accounts if a.is_key}
                assert narrow.contacts == [c for c in whole.contacts if c.account_id in key]
                assert narrow.cases == [c for c in whole.cases if c.account_id in key]
                for kind in ("accounts", "users", "deals", "activities", "plans", "team",
                             "surveys", "contracts", "warnings"):
                    assert getattr(narrow, kind) == getattr(whole, kind), kind
                assert narrow.checked == whole.checked
                assert (whole.withheld, narrow.withheld) == (frozenset(), {"contacts", "cases"})
                # both are reported; what the gate counts is what is read: of key accounts only
                bad = {w.record_id for w in whole.warnings if w.kind == "contacts"}
                tallied = [(s.present, s.failed) for s in (whole.field_stats["contacts (whole"
                           " records)"], narrow.field_stats["contacts (whole records)"])]
                assert tallied == [(len(whole.contacts) + len(bad), len(bad)),
                                   (len(narrow.contacts) + len(bad - {"BAD-False"}),
                                    len(bad - {"BAD-False"}))]
                seen |= bad
                dropped += len(whole.contacts) - len(narrow.contacts)
        finally:
            reader.close()
        assert dropped > 100  # accounts that are not key have contacts too
        assert seen == {"BAD-True", "BAD-False"}
    finally:
        crm.close()
