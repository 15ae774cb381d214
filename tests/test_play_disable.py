"""A config (and a what-if) switches a play off as it does a rule: `overrides.PACK.disable` and
`plan --disable` take play ids (they took rule ids only: an admin had to write an extending pack
to drop a play); the play's open tasks are closed, and the rules it absorbed raise their own."""

from __future__ import annotations

import json
from typing import Any

from tests.conftest import ANCHOR, Workspace

CONFIG = ("crm: {type: local, path: crm.sqlite, seed: empty}\npacks: [kam-core]\nstate_dir: state\n"
          "overrides:\n  kam-core: {tasks: per_rule, disable: [%s]}\n")


def _plays(report: dict[str, Any], play: str) -> list[str]:
    return [c["fingerprint"] for c in report["changes"]
            if c["fingerprint"].startswith(f"kam-core/{play}/") and c["action"] != "close"]


def test_a_config_switches_a_play_off_and_its_tasks_close(workspace: Workspace) -> None:
    config = workspace.root / "kamrules.yaml"
    config.write_text(CONFIG % "")
    first = workspace.run_json()
    risk = _plays(first, "PLAY-RISK")
    assert risk and _plays(first, "PLAY-RENEWAL")
    absorbed = {c["fingerprint"] for c in first["changes"] if c["action"] == "suppressed"
                and c["fingerprint"].startswith(("kam-core/KAM-PLN-002/", "kam-core/KAM-PLN-003/"))}
    assert absorbed

    config.write_text(CONFIG % "PLAY-RISK")
    second = workspace.run_json()
    closed = {c["fingerprint"] for c in second["changes"] if c["action"] == "close"}
    assert set(risk) <= closed and not _plays(second, "PLAY-RISK")
    assert not [c for c in second["changes"]
                if c["fingerprint"].startswith("kam-core/PLAY-RENEWAL/") and c["action"] == "close"]
    created = {c["fingerprint"] for c in second["changes"] if c["action"] == "create"}
    assert absorbed <= created  # no play runs: the absorbed rules raise their own tasks
    assert all(t.status != "open" for t in workspace.crm().all_tasks()
               if t.fingerprint.startswith("kam-core/PLAY-RISK/"))
    listed = json.loads(workspace.cli("plays", "--json").stdout)
    assert {p["id"]: p["enabled"] for p in listed} == {
        "PLAY-ONBOARD": True, "PLAY-RISK": False, "PLAY-RENEWAL": True}
    assert "PLAY-RISK (disabled)" in workspace.cli("rules").stdout


def test_an_unknown_play_or_rule_is_named(workspace: Workspace) -> None:
    (workspace.root / "kamrules.yaml").write_text(CONFIG % "PLAY-RISK, PLAY-RSIK")
    proc = workspace.cli("plan", "--as-of", ANCHOR.isoformat(), check=False)
    assert proc.returncode == 2
    assert ("kamrules.yaml:5:52: overrides.kam-core.disable.1: pack 'kam-core' has no rule or"
            " play 'PLAY-RSIK'") in proc.stderr


def test_a_what_if_switches_a_play_off(workspace: Workspace) -> None:
    (workspace.root / "kamrules.yaml").write_text(CONFIG % "")
    what = json.loads(workspace.cli("plan", "--as-of", ANCHOR.isoformat(), "--json",
                                    "--disable", "kam-core/PLAY-RISK").stdout)
    assert what["rules"] == []  # the same findings; the play's tasks go, its absorbed come back
    closed = {d["fingerprint"].rsplit("/", 2)[0] for d in what["closed"]}
    assert closed == {"kam-core/PLAY-RISK"}
    assert what["created"] and all("/KAM-PLN-00" in d["fingerprint"] for d in what["created"])
    wrong = workspace.cli("plan", "--as-of", ANCHOR.isoformat(), "--disable", "PLAY-RSIK", check=False)
    assert wrong.returncode == 2 and "no loaded pack has a rule or play 'PLAY-RSIK'" in wrong.stderr
