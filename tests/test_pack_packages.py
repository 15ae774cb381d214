"""Packs as Python packages: the scaffold's tests pass, its wheel installs into a fresh venv and
runs by name; pins and requires_kamrules are enforced; `extends:` changes only what it says."""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from kamrules.errors import ValidationFailed
from kamrules.language.loader import builtin_dir, load_pack, override_problems
from kamrules.language.scaffold import scaffold
from kamrules.model import Snapshot
from kamrules.run.sync import evaluate
from tests.conftest import ANCHOR, ROOT, Workspace


def _sh(*args: str | Path, cwd: Path, env: dict[str, str] | None = None,
        check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([str(a) for a in args], cwd=cwd, capture_output=True, text=True,
                          timeout=240, env={**os.environ, **(env or {})})
    if check and proc.returncode != 0:
        raise AssertionError(f"{args} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc


def test_the_scaffold_own_tests_pass_as_generated(tmp_path: Path) -> None:
    written = scaffold("acme-kam", tmp_path / "acme-kam")
    names = {p.relative_to(tmp_path / "acme-kam").as_posix() for p in written}
    src = "src/kamrules_pack_acme_kam"
    assert {"pyproject.toml", "README.md", f"{src}/pack.yaml", f"{src}/rules/rules.yaml",
            f"{src}/tests/cases.yaml", "tests/test_pack.py"} <= names
    proc = _sh(sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests",
               cwd=tmp_path / "acme-kam")
    assert "2 passed" in proc.stdout
    assert "ACMEKAM-001" in (tmp_path / "acme-kam" / "README.md").read_text()
    with pytest.raises(Exception, match="already exists"):
        scaffold("acme-kam", tmp_path / "acme-kam")
    with pytest.raises(Exception, match="'kam-core' is a built-in pack's name"):
        scaffold("kam-core", tmp_path / "kam-core")
    assert not (tmp_path / "kam-core").exists()
    (tmp_path / "fresh-repo" / ".git").mkdir(parents=True)  # `git init` first: an empty project
    assert (tmp_path / "fresh-repo" / "pyproject.toml") in scaffold("other-kam", tmp_path / "fresh-repo")


def test_a_built_wheel_installs_into_a_fresh_venv_and_runs_by_name(
        tmp_path: Path, workspace_factory: Callable[..., Workspace],
        demo_records: dict[str, Any]) -> None:
    # `requests` too: a pack may be named like a package kamrules needs (its wheel replaced it)
    for name in ("acme-kam", "requests"):
        scaffold(name, tmp_path / name)
        _sh(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", tmp_path / "dist",
            tmp_path / name, cwd=tmp_path)
    wheels = sorted((tmp_path / "dist").glob("kamrules_pack_*-0.1.0-*.whl"))
    assert len(wheels) == 2
    venv = tmp_path / "fresh"
    _sh(sys.executable, "-m", "venv", venv, cwd=tmp_path)
    py = venv / "bin" / "python"
    # kamrules (and durable_rules) as installed for these tests, seen from the fresh venv
    purelib = _sh(py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])",
                  cwd=tmp_path).stdout.strip()
    ours = [p for p in site.getsitepackages() if Path(p).is_dir()]
    Path(purelib, "kamrules_under_test.pth").write_text(
        "".join(f"import site; site.addsitedir({p!r})\n" for p in ours) + f"{ROOT}\n")
    _sh(py, "-m", "pip", "install", "-q", "--no-index", "--no-deps", *wheels, cwd=tmp_path)
    assert not (tmp_path / "fresh" / "src").exists()
    real = _sh(py, "-c", "import requests; print(requests.__version__)", cwd=tmp_path)
    assert real.stdout.strip() == __import__("requests").__version__

    ws = workspace_factory(demo_records)
    listed = json.loads(_sh(py, "-m", "kamrules", "packs", "--json", cwd=ws.root).stdout)
    acme = next(p for p in listed if p["name"] == "acme-kam")
    assert acme["source"] == "kamrules-pack-acme-kam 0.1.0 (pip)" and acme["version"] == "0.1.0"
    assert acme["path"].startswith(str(venv)) and acme["problem"] is None
    assert next(p for p in listed if p["name"] == "requests")["problem"] is None
    assert next(p for p in listed if p["name"] == "kam-core")["source"] == "built-in"
    # the project folder `pack new` made beside the config holds no pack.yaml: the name is the pack's
    shutil.copytree(tmp_path / "acme-kam", ws.root / "acme-kam")

    config = ws.root / "kamrules.yaml"
    config.write_text(config.read_text().replace("packs: [kam-core]",
                                                 "packs: [kam-core, 'acme-kam>=0.1,<1']"))
    plan = json.loads(_sh(py, "-m", "kamrules", "plan", "--as-of", ANCHOR.isoformat(), "--json",
                          cwd=ws.root).stdout)
    ours_fired = {c["fingerprint"] for c in plan["changes"] if c["fingerprint"].startswith("acme-kam/")}
    assert "acme-kam/ACMEKAM-001/ACC-000002" in ours_fired  # Baltic Foods: 2 contacts
    assert any(c["fingerprint"].startswith("kam-core/") for c in plan["changes"])

    config.write_text(config.read_text().replace("acme-kam>=0.1,<1", "acme-kam>=2"))
    refused = _sh(py, "-m", "kamrules", "plan", "--as-of", ANCHOR.isoformat(), cwd=ws.root,
                  check=False)
    assert refused.returncode == 2
    assert "pack acme-kam is version 0.1.0, which does not satisfy >=2" in refused.stderr

    # without the pip-installed pack the name is unknown
    gone = _sh(sys.executable, "-m", "kamrules", "plan", "--as-of", ANCHOR.isoformat(), cwd=ws.root,
               env={"PYTHONPATH": str(ROOT)}, check=False)
    assert gone.returncode == 2 and "nor an installed pack" in gone.stderr


def test_a_pack_for_another_kamrules_or_missing_facts_is_refused_with_the_reason(
        tmp_path: Path, workspace_factory: Callable[..., Workspace]) -> None:
    scaffold("acme-kam", tmp_path / "acme-kam")
    folder = tmp_path / "acme-kam" / "src" / "kamrules_pack_acme_kam"
    pack_yaml = folder / "pack.yaml"
    text = pack_yaml.read_text()
    pack_yaml.write_text(text.replace('requires_kamrules: ">=0.1,<0.2"', 'requires_kamrules: ">=2,<3"'))
    with pytest.raises(ValidationFailed, match=r"needs kamrules <3,>=2; this is kamrules 0\.1\.0"):
        load_pack(folder)
    ws = workspace_factory(None, "")
    config = ws.root / "kamrules.yaml"
    config.write_text(config.read_text().replace("packs: [kam-core]", f"packs: [{folder}]"))
    proc = ws.cli("plan", "--as-of", ANCHOR.isoformat(), check=False)
    assert proc.returncode == 2 and "needs kamrules <3,>=2" in proc.stderr

    pack_yaml.write_text(text.replace("requires_facts: [contacts]",
                                      "requires_facts: [contacts, crystal_ball]"))
    with pytest.raises(ValidationFailed, match="needs facts .* does not derive: crystal_ball"):
        load_pack(folder)


EXTENDING = """\
id: acme-ext
version: 1.2.0
description: kam-core, with a higher contact minimum, one rule off and one of ours.
extends: kam-core
set: {min_contacts: 8}
disable: [KAM-REL-001]
params:
  max_contacts: {default: 6, unit: contacts, description: "Most contacts before we ask why."}
"""
OUR_RULE = """\
- id: ACME-001
  title: Many contacts
  severity: low
  principles: [P09]
  groups: [relationship]
  rationale: Many contacts may mean nobody owns the relationship.
  when: {fact: contacts, gt: {param: max_contacts}}
  task: {subject: "{{ account_name }}: {{ contacts }} contacts", body: "{{ evidence }}",
         due_in_days: 30}
"""


def _found(snapshot: Snapshot, pack: Any) -> set[tuple[str, str]]:
    findings, _ = evaluate(snapshot, [pack])
    return {(f.rule_id, f.account_id) for f in findings}


def test_an_extending_pack_changes_only_what_it_says(tmp_path: Path, demo_snapshot: Snapshot) -> None:
    ext = tmp_path / "acme-ext"
    (ext / "rules").mkdir(parents=True)
    (ext / "pack.yaml").write_text(EXTENDING)
    (ext / "rules" / "ours.yaml").write_text(OUR_RULE)
    pack = load_pack(ext)
    assert pack.id == "acme-ext" and pack.values["min_contacts"] == 8
    assert pack.disabled == {"KAM-REL-001"}

    core = load_pack(builtin_dir() / "kam-core")
    assert override_problems(core, {"min_contacts": 8}, ["KAM-REL-001"]) == []
    expected = _found(demo_snapshot, core)
    got = _found(demo_snapshot, pack)
    ours = {f for f in got if f[0] == "ACME-001"}
    assert ours and got - ours == expected
    plain = _found(demo_snapshot, load_pack(builtin_dir() / "kam-core"))
    assert expected != plain  # the changes did change something

    (ext / "pack.yaml").write_text(EXTENDING.replace("min_contacts: 8", "min_contacts: many")
                                   .replace("KAM-REL-001]", "KAM-NOPE-1]"))
    shutil.copy(builtin_dir() / "kam-core" / "rules" / "relationship.yaml", ext / "rules" / "copy.yaml")
    with pytest.raises(ValidationFailed) as exc:
        load_pack(ext)
    text = str(exc.value)
    # each at its line: set: and disable: are lines 5 and 6 of EXTENDING, the copied rule in copy.yaml
    assert "pack.yaml:5:7: set.min_contacts: param 'min_contacts' takes a value like 5" in text
    assert "pack.yaml:6:11: disable.0: pack 'acme-ext' has no rule 'KAM-NOPE-1'" in text
    at = (builtin_dir() / "kam-core" / "rules" / "relationship.yaml").read_text().splitlines().index(
        "- id: KAM-REL-004") + 1
    assert f"copy.yaml:{at}:3: id: rule KAM-REL-004 is already in kam-core" in text


def test_a_pin_in_extends_is_the_base_versions_the_pack_is_made_for(tmp_path: Path) -> None:
    ext = tmp_path / "acme-ext"
    (ext / "rules").mkdir(parents=True)
    core = load_pack(builtin_dir() / "kam-core").version  # 2.0.0
    major = int(core.split(".")[0])
    for pin, problem in ((f"kam-core>={major},<{major + 1}", None),
                         (f"kam-core>={major + 1}", f"pack kam-core is version {core}, which does"
                                                    f" not satisfy >={major + 1}")):
        (ext / "pack.yaml").write_text(EXTENDING.replace("extends: kam-core", f'extends: "{pin}"'))
        if problem is None:
            assert load_pack(ext).values["min_contacts"] == 8
            continue
        with pytest.raises(ValidationFailed) as exc:
            load_pack(ext)
        assert f"pack.yaml:4:1: extends: {problem}" in str(exc.value)


def test_a_broken_base_pack_is_named_at_its_own_line(tmp_path: Path) -> None:
    (tmp_path / "base" / "rules").mkdir(parents=True)
    (tmp_path / "base" / "pack.yaml").write_text("id: base\nversion: 1.0.0\ndescription: b\n")
    (tmp_path / "base" / "rules" / "r.yaml").write_text(OUR_RULE.replace("severity: low",
                                                                         "severity: lowish"))
    (tmp_path / "ext").mkdir()
    (tmp_path / "ext" / "pack.yaml").write_text("id: ext\nversion: 1.0.0\ndescription: e\n"
                                                "extends: ../base\n")
    with pytest.raises(ValidationFailed) as exc:
        load_pack(tmp_path / "ext")
    assert "ext/pack.yaml:4:1: extends: base pack '../base': " in str(exc.value)
    assert "base/rules/r.yaml:3:3: [0].severity: Input should be" in str(exc.value)


def test_packs_may_not_extend_in_a_circle(tmp_path: Path) -> None:
    for name, other in (("one", "two"), ("two", "one")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "pack.yaml").write_text(
            f"id: {name}\nversion: 1.0.0\ndescription: x\nextends: ../{other}\n")
    with pytest.raises(ValidationFailed, match="circle"):
        load_pack(tmp_path / "one")


PLAYS_EXT = """\
id: acme-plays
version: 1.0.0
description: kam-core's plays, less the risk play, plus one of ours.
extends: kam-core
disable: [PLAY-RISK]
"""
OUR_PLAY = """\
- id: PLAY-ACME
  title: Renewal call by the owner
  severity: medium
  rationale: Our own follow-up of kam-core's renewal rule.
  trigger: {when: {fact: days_to_contract_end, le: 150}}
  steps:
    - id: owner-call
      title: Owner's call
      task: {subject: "{{ account_name }}: call about the renewal", body: "{{ play_title }}", due_in_days: 7}
"""


def _plays_pack(root: Path) -> Path:
    ext = root / "acme-plays"
    (ext / "playbooks").mkdir(parents=True)
    (ext / "pack.yaml").write_text(PLAYS_EXT)
    (ext / "playbooks" / "ours.yaml").write_text(OUR_PLAY)
    return ext


def test_an_extending_pack_inherits_plays_disables_one_and_adds_its_own(tmp_path: Path) -> None:
    """kam-core's plays run under the extending pack's id; the disabled one never starts."""
    from click.testing import CliRunner

    from kamrules.cli.main import cli
    from kamrules.connectors.local.crm import LocalCrm
    from kamrules.playbooks.loader import load_plays
    from tests.support import plays_sim as sim

    ext = _plays_pack(tmp_path)
    pack = load_pack(ext)
    assert pack.disabled_plays == {"PLAY-RISK"} and pack.disabled == set()
    assert [p.id for p in load_plays(pack)] == ["PLAY-ONBOARD", "PLAY-RENEWAL", "PLAY-ACME"]

    crm = LocalCrm(tmp_path / "crm.sqlite")
    for kind, rows in sim.portfolio().items():
        crm.insert_records(kind, rows)
    crm.close()
    (tmp_path / "kamrules.yaml").write_text(
        "crm: {type: local, path: crm.sqlite, seed: empty}\npacks: [./acme-plays]\nstate_dir: st\n")
    result = CliRunner().invoke(cli, ["--config", str(tmp_path / "kamrules.yaml"), "run",
                                      "--as-of", sim.day(0).isoformat(), "--json"])
    assert result.exit_code == 0, result.output
    started = {(t["pack_id"], t["play_id"], t["account_id"])
               for t in json.loads(result.stdout)["plays"] if t["kind"] == "started"}
    # kam-core alone starts ONBOARD and RISK on night 0 (tests/support/plays_sim.py); RISK is off
    assert started == {("acme-plays", "PLAY-ONBOARD", "ACC-ONB"), ("acme-plays", "PLAY-ACME", "ACC-REN")}
    crm = LocalCrm(tmp_path / "crm.sqlite")
    fps = {t.fingerprint for t in crm.all_tasks()}
    crm.close()
    assert "acme-plays/PLAY-ONBOARD/ACC-ONB/first-meeting" in fps
    assert not any("/PLAY-RISK/" in fp or fp.startswith("kam-core/") for fp in fps)


def test_extending_pack_play_errors_are_located(tmp_path: Path) -> None:
    ext = _plays_pack(tmp_path)
    (ext / "playbooks" / "ours.yaml").write_text(OUR_PLAY.replace("PLAY-ACME", "PLAY-ONBOARD"))
    (ext / "pack.yaml").write_text(PLAYS_EXT.replace("[PLAY-RISK]", "[PLAY-RISK, PLAY-NOPE]"))
    with pytest.raises(ValidationFailed) as exc:
        load_pack(ext)
    assert "disable.1: pack 'acme-plays' has no rule 'PLAY-NOPE' (nor a play of kam-core)" in str(exc.value)
    (ext / "pack.yaml").write_text(PLAYS_EXT)
    from kamrules.playbooks.loader import load_plays

    with pytest.raises(ValidationFailed) as exc:
        load_plays(load_pack(ext))
    assert "ours.yaml:1:3: id: play PLAY-ONBOARD is already in kam-core" in str(exc.value)


def test_a_base_play_whose_trigger_rules_are_all_disabled_is_refused(tmp_path: Path) -> None:
    """Its play could never start: the extending pack must say so (disable the play too)."""
    base = tmp_path / "base"
    (base / "rules").mkdir(parents=True)
    (base / "playbooks").mkdir()
    (base / "pack.yaml").write_text("id: base\nversion: 1.0.0\ndescription: x\n"
                                    "principles: {P09: Contacts}\ngroups: [relationship]\n")
    (base / "rules" / "r.yaml").write_text(OUR_RULE.replace("{param: max_contacts}", "6")
                                           .replace("{{ account_name }}", "{account_name}")
                                           .replace("{{ contacts }}", "{contacts}")
                                           .replace("{{ evidence }}", "{evidence}"))
    (base / "playbooks" / "p.yaml").write_text(  # a pack in the simple syntax: plays too
        OUR_PLAY.replace("{when: {fact: days_to_contract_end, le: 150}}", "{rules: [ACME-001]}")
        .replace("{{ account_name }}", "{account_name}").replace("{{ play_title }}", "{play_title}"))
    ext = tmp_path / "ext"
    ext.mkdir()
    (ext / "pack.yaml").write_text("id: ext\nversion: 1.0.0\ndescription: x\nextends: ../base\n"
                                   "disable: [ACME-001]\n")
    with pytest.raises(ValidationFailed) as exc:
        load_pack(ext)
    assert ("play PLAY-ACME of base starts only on rules this pack disables (ACME-001):"
            " disable the play too (`disable: [PLAY-ACME]`)") in str(exc.value)
    (ext / "pack.yaml").write_text((ext / "pack.yaml").read_text().replace("[ACME-001]",
                                                                           "[ACME-001, PLAY-ACME]"))
    from kamrules.playbooks.loader import load_plays

    assert load_plays(load_pack(ext)) == []
