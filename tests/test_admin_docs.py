"""Pack authoring from docs/rule-packs.md, strict where a first pack goes wrong, and the example
config's defaults (issue #16, items 10 and 12): the CLI in a subprocess, as the admin types it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from kamrules.connectors.local.crm import LocalConfig, LocalCrm
from tests.conftest import ROOT
from tests.support.packs import extending_pack
from tests.test_admin_cli import kamrules

DOC = ROOT / "docs" / "rule-packs.md"


def write_doc_pack(root: Path) -> Path:
    """Every `# my-pack/...` YAML block of the page, written where its first line says."""
    blocks = re.findall(r"```yaml\n(.*?)```", DOC.read_text(), re.S)
    written = []
    for block in blocks:
        match = re.match(r"# (my-pack/\S+)\n", block)
        if match:
            target = root / match.group(1)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(block)
            written.append(match.group(1))
    assert written == ["my-pack/pack.yaml", "my-pack/rules/contacts.yaml", "my-pack/tests/contacts.yaml"]
    return root / "my-pack"


def test_the_documented_pack_validates_and_its_cases_pass(tmp_path: Path) -> None:
    pack = write_doc_pack(tmp_path)
    valid = kamrules(tmp_path, "validate", "my-pack")
    assert valid.returncode == 0, valid.stderr
    assert "my-pack 0.1.0: 1 rules, 2 params, ok" in valid.stdout
    tested = kamrules(tmp_path, "test", "my-pack", "--format", "json")
    assert tested.returncode == 0, tested.stdout + tested.stderr
    summary = json.loads(tested.stdout)
    assert summary[0]["cases"] == 4 and summary[0]["passed"] == 4 and not summary[0]["untested_rules"]
    (pack / "rules" / "contacts.yaml").write_text(
        (pack / "rules" / "contacts.yaml").read_text().replace("lt: {param", "le: {param"))
    failing = kamrules(tmp_path, "test", "my-pack")
    assert failing.returncode == 1 and "MY-REL-001 should stay silent but fires" in failing.stdout


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


@pytest.mark.parametrize(("file", "old", "new", "line", "says"), [
    ("rules/contacts.yaml", "principles: [P09]", "principles: [P99]", 5,
     "principle 'P99' (did you mean 'P09'?) is not declared in pack.yaml `principles:`"),
    ("rules/contacts.yaml", "groups: [relationship]", "groups: [relationshp]", 6,
     "group 'relationshp' (did you mean 'relationship'?) is not declared"),
])
def test_undeclared_principles_and_groups_are_refused(
        tmp_path: Path, file: str, old: str, new: str, line: int, says: str) -> None:
    pack = write_doc_pack(tmp_path)
    _edit(pack / file, old, new)
    proc = kamrules(tmp_path, "validate", "my-pack")
    assert proc.returncode == 2 and f"{file}:{line}:" in proc.stderr and says in proc.stderr


def test_an_unknown_param_is_one_clear_error(tmp_path: Path) -> None:
    pack = write_doc_pack(tmp_path)
    _edit(pack / "rules" / "contacts.yaml", "{param: min_contacts}", "{param: min_contact}")
    proc = kamrules(tmp_path, "validate", "my-pack")
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error")]
    assert proc.returncode == 2 and len(errors) == 1, proc.stderr
    assert "unknown param 'min_contact' (did you mean 'min_contacts'?)" in errors[0]
    assert "contacts.yaml:9:" in errors[0]


@pytest.mark.parametrize(("old", "new", "line", "says"), [
    ("{id: C2, account_id: A, name: Ben Logistics}", "{id: C2, account_id: A, nmae: Ben Logistics}",
     12, "unknown key 'nmae'; valid keys: account_id, buying_role, created, department, id,"
         " is_primary, name, region, stance, status, title, win_over_plan (did you mean 'name'?)"),
    ("    fires: [MY-REL-001]\n", "    drop: {contacts: [C9]}\n    fires: [MY-REL-001]\n",
     18, "no contacts record 'C9' in fixture 'three_contacts'; it has: C1, C2, C3"),
    ("    fires: [MY-REL-001]\n", "    update: {contacts: {C1: {departmnt: x}}}\n    fires: [MY-REL-001]\n",
     18, "contacts records have no field 'departmnt'"),
    # a record id where its kind belongs was "update.C1.title: Input should be a valid dictionary"
    ("    fires: [MY-REL-001]\n", "    update: {C1: {title: CFO}}\n    fires: [MY-REL-001]\n",
     18, "'C1' is not a record kind: records are named by kind, then id"
         " (update: {contacts: {C1: {title: CFO}}})"),
    # a bad value an update gives failed as the case ran, as "contacts.0.created" of the portfolio
    ("    fires: [MY-REL-001]\n", "    update: {contacts: {C1: {created: 01.10.2026}}}\n"
     "    fires: [MY-REL-001]\n", 18, "cases[0].update.contacts.C1.created: Input should be a valid date"),
])
def test_fixture_mistakes_are_located(tmp_path: Path, old: str, new: str, line: int, says: str) -> None:
    pack = write_doc_pack(tmp_path)
    _edit(pack / "tests" / "contacts.yaml", old, new)
    proc = kamrules(tmp_path, "test", "my-pack")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert f"contacts.yaml:{line}:" in proc.stderr and says in proc.stderr
    assert "{'" not in proc.stderr  # no Python dict dumps


def test_what_explain_prints_is_accepted_as_expected_evidence(tmp_path: Path) -> None:
    pack = write_doc_pack(tmp_path)
    # a second rule whose evidence includes a fact with nothing to measure (null)
    with (pack / "rules" / "contacts.yaml").open("a") as rules:
        rules.write(
            "- id: MY-REL-002\n  title: No touch in 30 days\n  severity: medium\n"
            "  principles: [P09]\n  groups: [relationship]\n  rationale: Keep in touch.\n"
            "  when: {any: [{fact: days_since_touch, exists: false}, {fact: days_since_touch, gt: 30}]}\n"
            "  task: {subject: '{account_name}: no touch', body: '{evidence}'}\n")
    fixture = YAML(typ="safe").load((pack / "tests" / "contacts.yaml").read_text())
    records = fixture["fixtures"]["three_contacts"]
    crm = LocalCrm(tmp_path / "crm.sqlite")
    for kind, rows in records.items():
        crm.insert_records(kind, rows)
    crm.close()
    (tmp_path / "kamrules.yaml").write_text(
        "crm: {type: local, path: crm.sqlite}\npacks: [./my-pack]\nstate_dir: state\n")
    shown = kamrules(tmp_path, "explain", "acme", "--as-of", "2026-11-01")
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    facts = {}
    for rule in ("MY-REL-001", "MY-REL-002"):
        at = next(i for i, line in enumerate(lines) if f" {rule} " in line)
        assert lines[at].startswith("HOLDS")
        pairs = lines[at + 2].split("facts: ", 1)[1]
        facts[rule] = "{" + pairs.replace("=", ": ") + "}"  # pasted as the admin would
    assert facts["MY-REL-002"] == "{days_since_touch: null}"
    (pack / "tests" / "explained.yaml").write_text(
        "as_of: 2026-11-01\ncases:\n  - name: pasted from explain\n    base: three_contacts\n"
        "    account: A\n    fires: [MY-REL-001, MY-REL-002]\n"
        f"    evidence: {{MY-REL-001: {facts['MY-REL-001']}, MY-REL-002: {facts['MY-REL-002']}}}\n")
    proc = kamrules(tmp_path, "test", "my-pack")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_local_example_config_is_the_real_defaults_except_where_it_says() -> None:
    from kamrules.run.config import Config, load_config

    example = ROOT / "config" / "local.example.yaml"
    loaded = load_config(example)
    defaults = Config().model_dump()
    written = loaded.config.model_dump()
    differs = {line.split(":")[0].strip() for line in example.read_text().splitlines()
               if "# differs" in line}
    assert differs == {"min_contacts"}
    assert written["overrides"] == {"kam-core": {"params": {"min_contacts": 6}, "disable": [],
                                                 "tasks": "per_group"}}
    for key in set(defaults) - {"overrides", "crm"}:
        assert written[key] == defaults[key], key
    assert set(loaded.raw) == set(Config.model_fields)  # every key is written out
    assert set(loaded.raw["report"]) == set(type(loaded.config.report).model_fields)
    local = LocalConfig.model_validate(written["crm"])
    assert local.model_dump() == {**LocalConfig().model_dump(), "seed": "empty"}
    assert set(loaded.raw["crm"]) == set(LocalConfig.model_fields)


def test_readme_no_longer_says_to_delete_the_crm_with_the_state() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "delete `.kamrules/` (but not the CRM)" not in readme
    assert "**not** `.kamrules/crm.sqlite`, which *is* the local CRM" in readme
    assert ".kamrules/state.sqlite*" in (ROOT / "docs" / "admin.md").read_text()


def test_an_extending_pack_lists_only_its_own_rules_without_a_case(tmp_path: Path) -> None:
    """kam-core's 47 rules were listed as "without a case" under every pack extending it,
    burying the one rule the pack's author wrote and had not yet tested."""
    extending_pack(tmp_path, "{fact: contacts, lt: 2}")
    tested = kamrules(tmp_path, "test", "ext", "--format", "json")
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert json.loads(tested.stdout)[0]["untested_rules"] == ["EXT-REL-001"]
    text = kamrules(tmp_path, "test", "ext")
    assert "rules without a case: EXT-REL-001 (47 rules of kam-core, which it extends" in text.stdout


def test_a_pack_and_the_pack_extending_it_are_not_loaded_together(tmp_path: Path) -> None:
    """`packs: [kam-core, ./ext]` (as the docs put a pack of one's own beside kam-core) loaded
    kam-core twice: every kam-core finding was written as two tasks, kam-core/... and ext/...
    `overrides: {kam-core: ...}` beside `packs: [./ext]` said only "no loaded pack"."""
    extending_pack(tmp_path)
    config = tmp_path / "kamrules.yaml"
    config.write_text("crm: {type: local, path: crm.sqlite, seed: demo}\npacks: [kam-core, ./ext]\n")
    for command in ("validate", "plan"):
        proc = kamrules(tmp_path, command)
        assert proc.returncode == 2, proc.stdout + proc.stderr
        assert "kamrules.yaml:2:9: packs.0: 'kam-core' is also the base of 'ext', which holds its" \
            " rules and plays: load 'ext' alone" in " ".join(proc.stderr.split())
    config.write_text("crm: {type: local, path: crm.sqlite, seed: demo}\npacks: [./ext]\n"
                      "overrides:\n  kam-core: {params: {min_contacts: 5}}\n"
                      "  ext: {params: {min_contact: 5}}\n")
    said = " ".join(kamrules(tmp_path, "validate").stderr.split())
    assert "overrides.kam-core: 'kam-core' is loaded as the base of 'ext', which holds its params," \
        " rules and plays: name 'ext' instead" in said
    assert "pack 'ext' has no param 'min_contact' (did you mean 'min_contacts'?)" in said
    config.write_text("crm: {type: local, path: crm.sqlite, seed: demo}\npacks: [./ext]\n"
                      "overrides:\n  ext: {params: {min_contacts: 5}}\n")
    assert kamrules(tmp_path, "validate").returncode == 0
    # two packs extending kam-core hold its rules twice as well, in a config or in a what-if
    extending_pack(tmp_path, name="other")
    refused = kamrules(tmp_path, "plan", "--pack", "./other")
    assert refused.returncode == 2 and "--pack: other: 'other' and 'ext' both extend 'kam-core'" \
        in " ".join(refused.stderr.split())
    config.write_text(config.read_text().replace("packs: [./ext]", "packs: [./ext, ./other]"))
    said = " ".join(kamrules(tmp_path, "validate").stderr.split())
    assert "packs.1: 'other' and 'ext' both extend 'kam-core', so each holds its rules and plays:" \
        " load one pack that extends 'kam-core'" in said
    config.write_text(config.read_text().replace("packs: [./ext, ./other]", "packs: [./ext]"))
    plan = json.loads(kamrules(tmp_path, "plan", "--json").stdout)
    assert plan["changes"] and all(c["fingerprint"].startswith("ext/") for c in plan["changes"])


def test_a_pack_listed_twice_is_named_so(tmp_path: Path) -> None:
    """`packs: [kam-core, kam-core]` read "pack id 'kam-core' is also used by" its own folder."""
    (tmp_path / "kamrules.yaml").write_text("crm: {type: local, path: crm.sqlite}\n"
                                            "packs: [kam-core, kam-core]\n")
    proc = kamrules(tmp_path, "validate")
    assert proc.returncode == 2
    assert "pack 'kam-core' is listed twice (in packs:, or by name and by its folder): list it" \
        " once" in " ".join(proc.stderr.split())
