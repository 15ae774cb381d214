"""kam-core's plays over 60 nights on the local CRM, one `kamrules run` a night with a fresh
state directory each time, steps completed by hand in the CRM between runs."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from kamrules.cli.main import cli
from kamrules.connectors.local.crm import LocalCrm
from tests.support import plays_sim as sim


def _run(root: Path, night: int, command: str = "run") -> dict:
    config = root / f"night{night}.yaml"
    config.write_text("crm: {type: local, path: crm.sqlite, seed: empty}\npacks: [kam-core]\n"
                      f"state_dir: state-{night}\n")
    result = CliRunner().invoke(cli, ["--config", str(config), command, "--as-of",
                                      sim.day(night).isoformat(), "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_sixty_nights_on_the_local_crm(tmp_path: Path) -> None:
    crm = LocalCrm(tmp_path / "crm.sqlite")
    for kind, rows in sim.portfolio().items():
        crm.insert_records(kind, rows)
    seen = []
    for night in range(sim.NIGHTS):
        if night == sim.NEW_SURVEY_NIGHT:
            crm.insert_records("surveys", [*sim.portfolio()["surveys"], sim.NEW_SURVEY])
        report = _run(tmp_path, night)
        seen += sim.transitions(night, report)
        by_fp = {t.fingerprint: t for t in crm.all_tasks() if t.status == "open"}
        for suffix in sim.COMPLETE.get(night, []):
            crm.complete_task(by_fp[f"kam-core/{suffix}"].crm_id or "", sim.day(night))
    assert sorted(seen, key=str) == sorted(sim.EXPECTED, key=str)
    plays = [t for t in crm.all_tasks() if t.fingerprint.count("/") == 3]
    assert len({(t.fingerprint, t.evidence["play_started"]) for t in plays}) == len(plays)
    escalation = next(t for t in plays if t.fingerprint.endswith("first-meeting.escalation"))
    assert escalation.owner_id == "U2" and escalation.priority == "high"
    closed = [t for t in plays if t.status == "closed"]
    # the exit closed the open step; the completion closed the open escalation task
    assert sorted(t.fingerprint for t in closed) == [
        "kam-core/PLAY-ONBOARD/ACC-ONB/first-meeting.escalation",
        "kam-core/PLAY-RISK/ACC-RSK/decision-maker-meeting"]
