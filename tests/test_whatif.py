"""`kamrules plan --set/--disable/--pack`: the difference equals that of two real plans, one pull."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from kamrules.cli.main import cli
from kamrules.connectors.local.crm import LocalCrm
from kamrules.language.loader import builtin_dir
from tests.conftest import ANCHOR, Workspace
from tests.support.packs import extending_pack


def _with_min_contacts(ws: Workspace, value: int) -> Workspace:
    """The workspace's config with kam-core's min_contacts overridden, as an admin would."""
    config = ws.root / "kamrules.yaml"
    text = config.read_text()
    assert "kam-core: {tasks: per_rule}" in text
    config.write_text(text.replace("kam-core: {tasks: per_rule}",
                                   f"kam-core: {{tasks: per_rule, params: {{min_contacts: {value}}}}}"))
    return ws


def _plan(ws: Workspace, *args: str) -> dict[str, Any]:
    return json.loads(ws.cli("plan", "--as-of", ANCHOR.isoformat(), "--json", *args).stdout)


def _actions(report: dict[str, Any], action: str) -> set[str]:
    return {c["fingerprint"] for c in report["changes"] if c["action"] == action}


@pytest.mark.parametrize("value", [4, 2, 8])
def test_what_if_equals_the_difference_of_two_real_plans(
        workspace_factory: Callable[..., Workspace], demo_records: dict[str, Any], value: int) -> None:
    ws = workspace_factory(demo_records)
    changed_ws = _with_min_contacts(workspace_factory(demo_records), value)
    before, after = _plan(ws), _plan(changed_ws)
    result = _plan(ws, "--set", f"kam-core.min_contacts={value}")
    created = _actions(after, "create") - _actions(before, "create")
    gone = _actions(before, "create") - _actions(after, "create")
    assert {d["fingerprint"] for d in result["created"]} == created
    assert {d["fingerprint"] for d in result["closed"]} == gone
    assert result["other"] == []
    assert result["current"] == before["counts"] and result["changed"] == after["counts"]
    assert result["findings_changed"] - result["findings_current"] == len(created) - len(gone)
    per_owner = {o: c["created"] - c["closed"] for o, c in result["owners"].items()}
    assert sum(per_owner.values()) == len(created) - len(gone)
    names = {c["account_name"] for c in before["changes"] + after["changes"]
             if c["fingerprint"] in created | gone}
    assert set(result["accounts"]) == names
    if value == 8:  # the demo has accounts with 5-7 contacts: they get a task
        assert created and not gone
        assert result["rules"] == [{"rule": "kam-core/KAM-REL-004", "added": len(created),
                                    "removed": 0}]
    if value == 2:  # Baltic Foods has 2 contacts: no longer below the minimum
        assert "kam-core/KAM-REL-004/ACC-000002" in gone
    assert result["pulls"] == 2  # the local CRM: each plan reads the file (tests/test_whatif_reads.py)
    text = ws.cli("plan", "--as-of", ANCHOR.isoformat(), "--set",
                  f"kam-core.min_contacts={value}").stdout
    assert f"{len(created)} more created, {len(gone)} closed" in text


def test_after_a_run_the_closed_tasks_are_those_a_real_plan_would_close(
        workspace_factory: Callable[..., Workspace], demo_records: dict[str, Any]) -> None:
    ws = workspace_factory(demo_records)
    ws.run_json()
    changed_ws = _with_min_contacts(workspace_factory(None), 2)
    shutil.copy(ws.crm_path, changed_ws.crm_path)
    real = _plan(changed_ws)
    result = _plan(ws, "--set", "kam-core.min_contacts=2", "--disable", "KAM-REL-004")
    assert result["created"] == []
    closing = _actions(real, "close") | {
        c["fingerprint"] for c in real["changes"] if "/KAM-REL-004/" in c["fingerprint"]}
    assert {d["fingerprint"] for d in result["closed"]} == closing
    assert all(d["current"] == "keep" for d in result["closed"])
    assert result["rules"][0]["rule"] == "kam-core/KAM-REL-004" and result["rules"][0]["added"] == 0


def test_each_plan_reads_the_local_crm_once(
        workspace_factory: Callable[..., Workspace], demo_records: dict[str, Any],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The file is read by each plan as a run reads it (the portfolio context's account fields,
    then the chunks), and held by neither: no whole pull, no whole accounts."""
    ws = workspace_factory(demo_records)
    calls: list[str] = []
    for name in ("pull", "pull_chunks", "pull_accounts", "pull_account_summaries", "list_tasks"):
        original = getattr(LocalCrm, name)

        def counted(self: LocalCrm, *a: Any, _o: Any = original, _n: str = name, **k: Any) -> Any:
            calls.append(_n)
            return _o(self, *a, **k)

        monkeypatch.setattr(LocalCrm, name, counted)
    result = CliRunner().invoke(cli, ["--config", str(ws.root / "kamrules.yaml"), "plan",
                                      "--as-of", ANCHOR.isoformat(), "--json",
                                      "--set", "kam-core.min_contacts=8"])
    assert result.exit_code == 0, result.output
    assert sorted(calls) == sorted(["list_tasks", "pull_account_summaries", "pull_chunks"] * 2)
    assert json.loads(result.stdout)["pulls"] == 2


def test_a_changed_pack_folder_and_bad_changes(
        workspace_factory: Callable[..., Workspace], demo_records: dict[str, Any],
        tmp_path: Path) -> None:
    ws = workspace_factory(demo_records)
    copy = tmp_path / "kam-core-edit"
    shutil.copytree(builtin_dir() / "kam-core", copy)
    pack_file = copy / "pack.yaml"
    pack_file.write_text(pack_file.read_text().replace("min_contacts: {default: 5",
                                                       "min_contacts: {default: 8"))
    by_pack = _plan(ws, "--pack", str(copy))
    by_set = _plan(ws, "--set", "kam-core.min_contacts=8")
    assert [d["fingerprint"] for d in by_pack["created"]] == \
        [d["fingerprint"] for d in by_set["created"]]
    assert by_pack["changes"]["packs"] == [str(copy)]

    for args, message in (
            (("--set", "kam-core.min_contacts=many"), "takes a value like 5"),
            (("--set", "kam-core.no_such=1"), "has no param 'no_such'"),
            (("--set", "nopack.x=1"), "no loaded pack 'nopack'"),
            (("--set", "min_contacts"), "PACK.PARAM=VALUE"),
            (("--set", "kam-core.min_contacts=4", "--set", "kam-core.min_contacts=6"),  # the last won
             "kam-core.min_contacts: is set twice (4, then 6)"),
            (("--disable", "KAM-NOPE-1"), "no loaded pack has a rule")):
        proc = ws.cli("plan", "--as-of", ANCHOR.isoformat(), *args, check=False)
        assert proc.returncode == 2, proc.stderr
        assert message in proc.stderr


def test_a_change_that_reads_more_of_the_accounts_that_are_not_key_pulls_them(
        workspace_factory: Callable[..., Workspace], demo_records: dict[str, Any],
        tmp_path: Path) -> None:
    """kam-core reads no contacts of an account that is not key, so the current plan does not
    pull them (kamrules/run/projection.py); a changed pack whose contacts rule covers every
    account needs them: its plan reads them, instead of reading what was left out."""
    ws = workspace_factory(demo_records)
    copy = tmp_path / "kam-core-every-account"
    shutil.copytree(builtin_dir() / "kam-core", copy)
    rules = copy / "rules" / "relationship.yaml"
    text = rules.read_text()
    rule = "  when: {fact: contacts, lt: {param: min_contacts}}\n"
    assert text.count(rule) == 1
    rules.write_text(text.replace(rule, "  scope: all_accounts\n" + rule))
    result = _plan(ws, "--pack", str(copy))
    assert result["pulls"] == 2
    key = {a["id"] for a in demo_records["accounts"] if a["is_key"]}
    created = [d["fingerprint"].rsplit("/", 1) for d in result["created"]]
    assert created and {rule for rule, _ in created} == {"kam-core/KAM-REL-004"}
    assert not {account for _, account in created} & key
    assert result["closed"] == [] and result["other"] == []


def test_findings_by_rule_count_findings_in_checklists_too(
        workspace_factory: Callable[..., Workspace], demo_records: dict[str, Any]) -> None:
    """kam-core's default writes one checklist per account and problem: the what-if listed
    `kam-core/bundle:buying_centre +31` where the rule changed was KAM-REL-004, +39 findings."""
    ws = workspace_factory(demo_records)
    config = ws.root / "kamrules.yaml"
    config.write_text(config.read_text().replace("kam-core: {tasks: per_rule}", "kam-core: {}"))
    result = _plan(ws, "--set", "kam-core.min_contacts=10")
    added = result["findings_changed"] - result["findings_current"]
    assert added > 0
    assert result["rules"] == [{"rule": "kam-core/KAM-REL-004", "added": added, "removed": 0}]
    assert result["created"] or result["other"]  # checklists made or grown


def test_a_pack_extending_a_configured_one_is_planned_in_its_place(
        workspace_factory: Callable[..., Workspace], demo_records: dict[str, Any],
        tmp_path: Path) -> None:
    """`--pack ./ext` where ext extends the configured kam-core was added beside it: the what-if
    counted every kam-core finding twice (once as ext's). It takes kam-core's place, with the
    config's overrides of kam-core, as a config naming ext instead would."""
    ext = extending_pack(tmp_path, "{fact: contacts, lt: 7}")
    ws = _with_min_contacts(workspace_factory(demo_records), 6)
    deployed = _with_min_contacts(workspace_factory(demo_records), 6)
    config = deployed.root / "kamrules.yaml"
    config.write_text(config.read_text().replace("packs: [kam-core]", f"packs: ['{ext}']")
                      .replace("  kam-core: {", "  ext: {"))
    before, after = _plan(ws), _plan(deployed)
    assert before["findings"] < after["findings"] < 2 * before["findings"]
    result = _plan(ws, "--pack", str(ext))
    assert {d["fingerprint"] for d in result["created"]} == \
        _actions(after, "create") - _actions(before, "create")
    assert {d["fingerprint"] for d in result["closed"]} == \
        _actions(before, "create") - _actions(after, "create")
    assert result["findings_changed"] == after["findings"]
    assert {"rule": "ext/KAM-REL-004", "added": sum(
        1 for c in after["changes"] if "/KAM-REL-004/" in c["fingerprint"]), "removed": 0} \
        in result["rules"]  # min_contacts 6 (kam-core's override) holds for ext's KAM-REL-004
