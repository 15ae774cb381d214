"""kam-core's plays over 60 nights, one `kamrules run` a night with a fresh state directory each
time, steps completed by hand in the CRM between runs: the local CRM, the fake Salesforce org
and the fake HubSpot portal make the same transitions."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from kamrules.cli.main import cli
from kamrules.connectors.local.crm import LocalCrm
from kamrules.protocol.marker import read_marker
from tests.support import plays_sim as sim
from tests.support.salesforce import FakeServer
from tests.support.salesforce_data import load_demo
from tests.support.salesforce_workspace import ENV, TOKEN, new_org, tls_cert  # noqa: F401


@pytest.fixture(autouse=True)
def parse_pack_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The pack's and mappings' files do not change between nights: parse each once (ruamel's
    round-trip parser is most of a night's time). Everything else runs afresh every night."""
    import kamrules.language.loader as loader

    parsed: dict[tuple[Path, int], Any] = {}
    real = loader.load_yaml

    def load_yaml(path: Path) -> Any:
        key = (path, path.stat().st_mtime_ns)
        if key not in parsed:
            parsed[key] = real(path)
        return parsed[key]

    monkeypatch.setattr(loader, "load_yaml", load_yaml)
    # likewise the connectors' shipped field mappings
    import functools

    import kamrules.connectors.hubspot.connector as hubspot
    import kamrules.connectors.salesforce.connector as salesforce

    monkeypatch.setattr(salesforce, "load_mapping", functools.lru_cache(salesforce.load_mapping))
    real_hs = hubspot.load_mapping
    mappings: dict[Any, Any] = {}

    def hs_mapping(path: Any, base_dir: Path) -> Any:
        if (path, base_dir) not in mappings:
            mappings[(path, base_dir)] = real_hs(path, base_dir)
        return mappings[(path, base_dir)]

    monkeypatch.setattr(hubspot, "load_mapping", hs_mapping)


ACTIVE: dict[str, Any] = {}  # CRM -> the run report's active plays on the escalation night


def _runner(root: Path, crm_yaml: str, name: str) -> Any:
    def run(night: int) -> dict[str, Any]:
        config = root / f"night{night}.yaml"
        config.write_text(f"{crm_yaml}packs: [kam-core]\nstate_dir: state-{night}\n")
        result = CliRunner().invoke(cli, ["--config", str(config), "run", "--as-of",
                                          sim.day(night).isoformat(), "--json"])
        assert result.exit_code == 0, result.output
        report = json.loads(result.stdout)
        if night == sim.NIGHT_ESCALATION:
            ACTIVE[name] = _active(report)
        return report

    return run


def _active(report: dict[str, Any]) -> dict[tuple[str, str], dict[str, tuple[Any, ...]]]:
    """The run report's active plays by account name (HubSpot's ids differ) and play."""
    return {(a["account_name"], p["play_id"]): {s["id"]: (s["state"], s["overdue_days"], s["escalated"])
                                                for s in p["steps"]}
            for a in report["active_plays"]["accounts"] for p in a["plays"]}


# night 21 on every CRM: the risk play exited the night before; the onboarding play's first
# meeting is a week overdue and escalated; the renewal's first step is open, not yet due
ACTIVE_ON_ESCALATION = {
    ("Nova Foods", "PLAY-ONBOARD"): {"first-meeting": ("open", 7, True),
                                     "contacts-beyond-purchasing": ("open", 0, False),
                                     "account-plan": ("waiting", 0, False)},
    ("Renew Logistics", "PLAY-RENEWAL"): {"renewal-opportunity": ("open", 0, False),
                                          "executive-touch": ("waiting", 0, False),
                                          "terms-in-writing": ("waiting", 0, False)},
}


def test_sixty_nights_on_the_local_crm(tmp_path: Path) -> None:
    crm = LocalCrm(tmp_path / "crm.sqlite")
    for kind, rows in sim.portfolio().items():
        crm.insert_records(kind, rows)

    def complete(fp: str, on: date) -> None:
        task = next(t for t in crm.all_tasks() if t.fingerprint == fp and t.status == "open")
        crm.complete_task(task.crm_id or "", on)

    def add_survey(row: dict[str, Any]) -> None:
        crm.insert_records("surveys", [*sim.portfolio()["surveys"], row])

    seen = sim.simulate(_runner(tmp_path, "crm: {type: local, path: crm.sqlite, seed: empty}\n", "local"),
                        complete, add_survey)
    assert sorted(seen, key=str) == sorted(sim.EXPECTED, key=str)
    assert ACTIVE["local"] == ACTIVE_ON_ESCALATION
    plays = [t for t in crm.all_tasks() if t.fingerprint.count("/") == 3]
    assert len({(t.fingerprint, t.evidence["play_started"]) for t in plays}) == len(plays)
    escalation = next(t for t in plays if t.fingerprint.endswith("first-meeting.escalation"))
    assert escalation.owner_id == "U2" and escalation.priority == "high"
    closed = [t for t in plays if t.status == "closed"]
    # the exit closed the open step; the completion closed the open escalation task
    assert sorted(t.fingerprint for t in closed) == [
        "kam-core/PLAY-ONBOARD/ACC-ONB/first-meeting.escalation",
        "kam-core/PLAY-RISK/ACC-RSK/decision-maker-meeting"]


def test_sixty_nights_on_salesforce(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                    tls_cert: tuple[Path, Path]) -> None:  # noqa: F811
    monkeypatch.setenv(ENV, TOKEN)
    org = new_org(sim.full(sim.portfolio()))
    with FakeServer(org, *tls_cert) as server:
        crm_yaml = (
            "crm:\n  type: salesforce\n"
            f"  auth: {{method: session, session_id: {{env: {ENV}}}, instance_url: '{server.url}'}}\n"
            f"  ca_bundle: '{tls_cert[0]}'\n")

        def complete(fp: str, on: date) -> None:
            task = next(t for t in org.tasks() if not t.get("IsClosed")
                        and (read_marker(t.get("Description")) or ("",))[0] == fp)
            stamp = f"{on.isoformat()}T12:00:00.000+0000"
            task.update(Status="Completed", IsClosed=True, CompletedDateTime=stamp,
                        LastModifiedDate=stamp, SystemModstamp=stamp)

        def add_survey(row: dict[str, Any]) -> None:
            load_demo(org, sim.full({"surveys": [row]}))

        # the nights around the events (tests/support/plays_sim.py says why that is enough here)
        seen = sim.simulate(_runner(tmp_path, crm_yaml, "salesforce"), complete, add_survey,
                            sim.AROUND_EVENTS)
    assert sorted(seen, key=str) == sorted(sim.EXPECTED, key=str)
    assert ACTIVE["salesforce"] == ACTIVE_ON_ESCALATION
    ours = [t for t in org.tasks() if "/PLAY-" in str(t.get("Description"))]
    fps = [(read_marker(t["Description"]) or ("",))[0] for t in ours]
    assert len(fps) == len(set(fps)) == 8 + 2  # each opened step once, each escalation once


def test_sixty_nights_on_hubspot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.support.hubspot import FakeHubSpot
    from tests.support.hubspot_workspace import TOKEN as HS_TOKEN
    from tests.support.hubspot_workspace import TOKEN_ENV

    monkeypatch.setenv(TOKEN_ENV, HS_TOKEN)
    fake = FakeHubSpot(token=HS_TOKEN, budget=190, window=1.0, search_per_second=100)
    ids = fake.load_portfolio(sim.full(sim.portfolio()))
    canonical = {v: k for k, v in ids["accounts"].items()}
    url = fake.start()
    try:
        crm_yaml = (f"crm:\n  type: hubspot\n  access_token: {{env: {TOKEN_ENV}}}\n  base_url: {url}\n"
                    f"  requests_per_10s: {fake.budget}\n  rate_window_seconds: {fake.window}\n")
        night_run = _runner(tmp_path, crm_yaml, "hubspot")

        def run(night: int) -> dict[str, Any]:
            report = night_run(night)
            for t in report["plays"]:
                t["account_id"] = canonical[t["account_id"]]
            return report

        def complete(fp: str, on: date) -> None:
            pack, play, account, step = fp.split("/")
            hs_fp = "/".join((pack, play, ids["accounts"][account], step))
            task = next(t for t in fake.tasks() if t["properties"].get("hs_task_status") != "COMPLETED"
                        and (read_marker(t["properties"].get("hs_task_body")) or ("",))[0] == hs_fp)
            fake.complete_task(task["id"], on.isoformat())

        def add_survey(row: dict[str, Any]) -> None:
            company = fake.objects["companies"][ids["accounts"][row["account_id"]]]
            surveys = company["properties"]["kam_surveys"]
            fake.update("companies", company["id"], {
                "kam_surveys": f"{surveys};{row['date']}:{row['kind']}:{row['score']}"})

        seen = sim.simulate(run, complete, add_survey, sim.AROUND_EVENTS)  # as on Salesforce
    finally:
        fake.stop()
    assert sorted(seen, key=str) == sorted(sim.EXPECTED, key=str)
    assert ACTIVE["hubspot"] == ACTIVE_ON_ESCALATION
    fps = [(read_marker(t["properties"].get("hs_task_body")) or ("",))[0] for t in fake.tasks()]
    plays = [fp for fp in fps if "/PLAY-" in fp]
    assert len(plays) == len(set(plays)) == 8 + 2
