"""Plays are validated like rules: every problem of every file at once, each located, and
`explain` / `plays` / `rules` show them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from kamrules.cli.main import cli
from kamrules.errors import ValidationFailed
from kamrules.language.loader import builtin_dir, load_pack
from kamrules.playbooks.loader import load_plays

BAD = """\
- id: PLAY-BAD
  title: Bad
  rationale: r
  trigger:
    rules: [KAM-NOPE-001]
    when: {fact: satisfacton, lt: 3}
  steps:
    - id: one
      title: One
      start: {after: two}
      task: {subject: "{{ account_nme }}", body: "{account_name} b"}
      escalate: {overdue_days: 3}
    - id: one
      title: Again
      task: {subject: s, body: b, colour: red}
- id: KAM-OUT-001
  title: Clash
  rationale: r
  trigger: {group: no-such-group}
  steps:
    - {id: a, title: A, task: {subject: s, body: b}}
"""


@pytest.fixture
def bad_pack(tmp_path: Path) -> Path:
    pack = tmp_path / "pack"
    shutil.copytree(builtin_dir() / "kam-core", pack, ignore=shutil.ignore_patterns("playbooks"))
    (pack / "playbooks").mkdir()
    (pack / "playbooks" / "bad.yaml").write_text(BAD)
    (pack / "playbooks" / "worse.yaml").write_text("- id: PLAY-X\n  title: [unclosed\n")
    return pack


def test_every_problem_of_every_play_file_at_once_with_its_place(bad_pack: Path) -> None:
    with pytest.raises(ValidationFailed) as caught:
        load_plays(load_pack(bad_pack))
    text = str(caught.value)
    assert "worse.yaml:3:1: invalid YAML" in text
    assert "bad.yaml:6:" in text and "unknown fact 'satisfacton'" in text
    assert "did you mean 'satisfaction'" in text
    assert "unknown name 'account_nme' (did you mean 'account_name'?)" in text
    # kam-core's texts are Jinja: a text in the simple syntax would show its braces
    assert ("{account_name} is the simple syntax, which this pack's texts are not"
            " (template_syntax: jinja): write {{ account_name }}") in text
    assert "unknown key 'colour'" in text
    assert "an escalation needs an assignee" in text
    # with the structure fixed, the checks against the pack and between steps speak
    fixed = BAD.replace("satisfacton", "satisfaction").replace("account_nme", "account_name") \
        .replace('"{account_name} b"', "b") \
        .replace(", colour: red", "").replace("{overdue_days: 3}", "{overdue_days: 3, raise_priority: true}")
    (bad_pack / "playbooks" / "bad.yaml").write_text(fixed)
    (bad_pack / "playbooks" / "worse.yaml").unlink()
    with pytest.raises(ValidationFailed) as caught:
        load_plays(load_pack(bad_pack))
    text = str(caught.value)
    assert "duplicate step ids: one" in text
    fixed = fixed.replace("    - id: one\n      title: Again", "    - id: two\n      title: Again")
    (bad_pack / "playbooks" / "bad.yaml").write_text(fixed)
    with pytest.raises(ValidationFailed) as caught:
        load_plays(load_pack(bad_pack))
    problems = [str(p) for p in caught.value.problems]
    assert any("bad.yaml:5:" in p and "unknown rule 'KAM-NOPE-001'" in p for p in problems)
    assert any("bad.yaml:16:" in p and "also a rule id" in p for p in problems)
    assert any("bad.yaml:19:" in p and "group 'no-such-group'" in p for p in problems)


def test_validate_reports_play_problems_with_exit_code_2(bad_pack: Path) -> None:
    result = CliRunner().invoke(cli, ["validate", str(bad_pack)])
    assert result.exit_code == 2
    assert "unknown fact 'satisfacton'" in result.output
    assert "params, problems below" in result.output and "params, ok" not in result.output


def test_plays_are_listed_and_documented() -> None:
    listed = json.loads(CliRunner().invoke(cli, ["plays", "kam-core", "--format", "json"]).output)
    assert [p["id"] for p in listed] == ["PLAY-ONBOARD", "PLAY-RISK", "PLAY-RENEWAL"]
    assert listed[1]["steps"][0]["escalation"].startswith("overdue by 7 days")
    markdown = CliRunner().invoke(cli, ["plays", "kam-core", "--format", "markdown"]).output
    committed = (builtin_dir() / "kam-core" / "playbooks" / "README.md").read_text()
    assert markdown == committed, "regenerate with `kamrules plays kam-core --format markdown`"
    table = CliRunner().invoke(cli, ["rules", "kam-core"]).output
    assert table.count("PLAY-") >= 3  # the plays are rows beside the rules


def test_explain_shows_each_plays_state_and_why(tmp_path: Path) -> None:
    from kamrules.connectors.local.crm import LocalCrm
    from tests.support import plays_sim as sim

    crm = LocalCrm(tmp_path / "crm.sqlite")
    for kind, rows in sim.portfolio().items():
        crm.insert_records(kind, rows)
    config = tmp_path / "kamrules.yaml"
    config.write_text("crm: {type: local, path: crm.sqlite, seed: empty}\npacks: [kam-core]\n")
    assert CliRunner().invoke(cli, ["--config", str(config), "run", "--as-of", "2026-11-01"]).exit_code == 0
    out = CliRunner().invoke(cli, ["--config", str(config), "explain", "Risky Metals",
                                   "--as-of", "2026-11-02"]).output
    assert "PLAY  PLAY-RISK Relationship at risk: active since 2026-11-01; trigger holds" in out
    assert "satisfaction_change=-3" in out and "risk-review: open" in out
    assert "decision-maker-meeting: waiting" in out
    assert "PLAY  PLAY-RENEWAL Renewal: idle; trigger does not hold" in out


def test_a_play_taken_out_of_the_pack_closes_its_open_steps(tmp_path: Path) -> None:
    from kamrules.connectors.local.crm import LocalCrm
    from tests.support import plays_sim as sim

    pack = tmp_path / "pack"
    shutil.copytree(builtin_dir() / "kam-core", pack)
    crm = LocalCrm(tmp_path / "crm.sqlite")
    for kind, rows in sim.portfolio().items():
        crm.insert_records(kind, rows)
    config = tmp_path / "kamrules.yaml"
    config.write_text(f"crm: {{type: local, path: crm.sqlite, seed: empty}}\npacks: ['{pack}']\n")
    run = ["--config", str(config), "run", "--as-of", "2026-11-01", "--json"]
    assert CliRunner().invoke(cli, run).exit_code == 0
    plays = (pack / "playbooks" / "plays.yaml").read_text()
    off = plays.replace("cooldown_days: 60\n", "cooldown_days: 60\n  enabled: false\n")
    (pack / "playbooks" / "plays.yaml").write_text(off)
    report = json.loads(CliRunner().invoke(cli, run).stdout)
    closed = [c for c in report["changes"] if c["action"] == "close"]
    assert [c["fingerprint"] for c in closed] == ["kam-core/PLAY-RISK/ACC-RSK/risk-review"]
    assert closed[0]["reason"] == "the play is disabled or no longer in the pack"
