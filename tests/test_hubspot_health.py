"""`health_fields:` on HubSpot (#20 item 3), through the CLI against the fake portal: company
properties equal to the report's values, written with batch updates of 100 only where they
changed (a second run writes none), read with the pull (no call per account), exactly once across
a crash between batches, and a pre-flight that names a missing, mistyped, calculated or read-only
property before anything is written (exit 2).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kamrules.connectors.hubspot.config import HubSpotConfig, Mapping
from kamrules.connectors.hubspot.connector import HubSpotConnector
from kamrules.connectors.hubspot.http import HubSpotApi
from kamrules.errors import CrmError
from kamrules.inputs.secrets import Secret
from kamrules.model import SEVERITIES
from kamrules.protocol.health import HealthFields
from tests.conftest import ANCHOR
from tests.support.hubspot import FakeHubSpot
from tests.support.hubspot_workspace import TOKEN, HsWorkspace, start_fake

FIELDS = ("health_fields: {health: kam_health, worst_severity: kam_worst,"
          " open_findings: kam_open, last_evaluated: kam_evaluated}\n")
UPDATE = "POST /crm/v3/objects/companies/batch/update"


def _define(fake: FakeHubSpot) -> None:
    """The four properties as an admin creates them in HubSpot's settings."""
    fake.define_property("companies", "kam_health", "number", "number")
    fake.define_property("companies", "kam_worst", "enumeration", "select", list(SEVERITIES))
    fake.define_property("companies", "kam_open", "number", "number")
    fake.define_property("companies", "kam_evaluated", "date", "date")


@pytest.fixture
def hs(tmp_path: Path, demo_records: dict[str, list[dict[str, Any]]]) -> Iterator[HsWorkspace]:
    fake, url, _ = start_fake(demo_records, window=1.0)
    _define(fake)
    ws = HsWorkspace(tmp_path / "hs", fake, url)
    ws.write_config(extra=FIELDS)
    yield ws
    fake.stop()


def _company_values(fake: FakeHubSpot) -> dict[str, dict[str, Any]]:
    return {cid: {k: c["properties"].get(k) for k in ("kam_health", "kam_worst", "kam_open", "kam_evaluated")}
            for cid, c in fake.objects["companies"].items()}


def _assert_equal_to_report(ws: HsWorkspace) -> None:
    proc = ws.cli("report", "--as-of", ANCHOR.isoformat(), "--format", "json", "-o", "-")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    rows = report["accounts"] + report["other_accounts"]
    assert rows
    values = _company_values(ws.fake)
    for row in rows:
        mine = values[row["id"]]
        assert int(mine["kam_health"]) == row["health"], row["name"]
        assert mine["kam_worst"] == (row["worst"] or ""), row["name"]
        assert int(mine["kam_open"]) == len([f for f in row["findings"] if not f.get("snooze")])
        assert mine["kam_evaluated"] == ANCHOR.isoformat()
    reported = {r["id"] for r in rows}
    others = [v for cid, v in values.items() if cid not in reported]
    assert all(v["kam_health"] == "100" and v["kam_open"] == "0" and v["kam_worst"] == "" for v in others)


def test_health_fields_equal_the_report_written_once_in_batches_of_100(hs: HsWorkspace) -> None:
    fake = hs.fake
    companies = len(fake.objects["companies"])
    code, plan = hs.run_json("plan")
    assert code == 0, plan
    assert plan["health_written"] == companies and fake.calls[UPDATE] == 0  # counted, not written

    code, first = hs.run_json()
    assert code == 0, first
    assert first["health_written"] == companies
    assert fake.calls[UPDATE] == -(-companies // 100)  # one call per 100 changed accounts
    # the current values came with the pull and the pre-flight with its property list:
    # no call per account, no extra read or property call
    assert fake.calls["POST /crm/v3/objects/companies/batch/read"] == 0
    assert fake.calls["GET /crm/v3/properties/companies"] == 2  # one each for the plan and the run
    _assert_equal_to_report(hs)

    code, second = hs.run_json()
    assert code == 0, second
    assert second["health_written"] == 0 and fake.calls[UPDATE] == -(-companies // 100)
    assert "search" in " ".join(fake.calls)  # the incremental pull saw the written values

    some = sorted(fake.objects["companies"], key=int)[5]  # someone overwrites one score by hand
    before = _company_values(fake)[some]
    fake.update("companies", some, {"kam_health": "3"})
    code, third = hs.run_json()
    assert code == 0, third
    assert third["health_written"] == 1 and fake.calls[UPDATE] == -(-companies // 100) + 1
    assert _company_values(fake)[some] == before


def test_a_crash_between_batches_then_a_rerun_writes_only_what_still_differs(hs: HsWorkspace) -> None:
    fake = hs.fake
    proc = hs.cli("run", "--as-of", ANCHOR.isoformat(), env={"KAMRULES_CRASH_AT": "health:1"})
    assert proc.returncode == 137, proc.stderr  # killed right after the first batch of 100
    written = [cid for cid, v in _company_values(fake).items() if v["kam_health"]]
    assert len(written) == 100 and fake.calls[UPDATE] == 1
    code, rerun = hs.run_json()
    assert code == 0, rerun
    assert rerun["health_written"] == len(fake.objects["companies"]) - 100
    assert rerun["counts"]["created"] == 0  # the tasks were written before the crash
    assert fake.calls[UPDATE] == 1 + -(-rerun["health_written"] // 100)
    _assert_equal_to_report(hs)


def test_preflight_names_every_property_problem_before_anything_is_written(
        tmp_path: Path, demo_records: dict[str, list[dict[str, Any]]]) -> None:
    fake, url, _ = start_fake(demo_records, window=1.0)
    try:
        fake.define_property("companies", "kam_health", "number", "calculation_equation", calculated=True)
        fake.define_property("companies", "kam_worst", "enumeration", "select", ["critical", "high"])
        fake.define_property("companies", "kam_open", "string", "text")
        fake.define_property("companies", "kam_evaluated", "date", "date")
        ws = HsWorkspace(tmp_path / "hs", fake, url)
        ws.write_config(extra="health_fields: {health: kam_health, worst_severity: kam_worst,"
                              " open_findings: kam_open, last_evaluated: kam_evaluatd}\n")
        for command in ("doctor", "run"):
            proc = ws.cli(command, "--as-of", ANCHOR.isoformat())
            assert proc.returncode == 2, (command, proc.stdout, proc.stderr)
            text = " ".join(proc.stderr.split())
            assert "kam_health' is calculated" in text
            assert "'kam_worst' has no option medium, low, info" in text
            assert "'kam_open' is of type string (text); open_findings needs number" in text
            assert "no property 'kam_evaluatd' (similar: kam_evaluated" in text
            assert "nothing was written" in text
        assert fake.writes == 0 and not fake.calls["GET /crm/v3/objects/companies"]
        assert not fake.calls["GET /crm/v3/objects/tasks"]

        fake.define_property("companies", "kam_health", "number", "number", readOnlyValue=True)
        fake.define_property("companies", "kam_worst", "string", "text")
        fake.define_property("companies", "kam_open", "number", "number")
        ws.write_config(extra=FIELDS)
        proc = ws.cli("run", "--as-of", ANCHOR.isoformat())
        assert proc.returncode == 2 and "'kam_health' is read-only" in proc.stderr, proc.stderr
        assert fake.writes == 0

        fake.define_property("companies", "kam_health", "number", "number")
        code, report = ws.run_json()
        assert code == 0 and report["health_written"] == len(fake.objects["companies"]), report
        assert {c["properties"]["kam_worst"] for c in fake.objects["companies"].values()} <= {*SEVERITIES, ""}
    finally:
        fake.stop()


def _connector(url: str) -> HubSpotConnector:
    config = HubSpotConfig.model_validate({
        "type": "hubspot", "access_token": {"env": "UNUSED"}, "base_url": url, "incremental": False,
        "rate_window_seconds": 1.0, "retry": {"attempts": 2, "base_seconds": 0.01, "max_seconds": 0.02}})
    api = HubSpotApi(Secret(TOKEN), url, 100, 4, config.retry, window=1.0)
    return HubSpotConnector(config, Mapping(), api, None)


def test_unprepared_reads_after_the_pull_and_a_refused_batch_is_a_crm_error(
        demo_records: dict[str, list[dict[str, Any]]]) -> None:
    """Without the pre-pull check (a caller that skips it) the fields are checked by name and read
    with batch reads of 100; a batch HubSpot refuses (a property deleted meanwhile) raises
    HubSpot's message as a CRM error (exit 4) after the other batches were written."""
    fake, url, _ = start_fake(demo_records, window=1.0)
    try:
        _define(fake)
        connector = _connector(url)
        assert isinstance(connector, HealthFields)
        connector.pull(ANCHOR)
        companies = sorted(fake.objects["companies"], key=int)
        fake.update("companies", companies[0], {"kam_health": "40", "kam_worst": "high"})
        names = ["kam_health", "kam_worst"]
        assert connector.read_account_fields(names) == {companies[0]: {"kam_health": 40, "kam_worst": "high"}}
        assert fake.calls["POST /crm/v3/objects/companies/batch/read"] == -(-len(companies) // 100)

        fake.define_property("companies", "kam_worst", "number", "number", readOnlyValue=True)
        values = {cid: {"kam_health": 90, "kam_worst": None} for cid in companies[:150]}
        with pytest.raises(CrmError) as refused:
            connector.write_account_fields(values)
        assert refused.value.exit_code == 4
        assert "READ_ONLY_VALUE" in str(refused.value) and "kam_worst" in str(refused.value)
        assert fake.calls["POST /crm/v3/objects/companies/batch/update"] == 2
        health = [fake.objects["companies"][c]["properties"].get("kam_health") for c in companies]
        assert "90" not in health

        fake.define_property("companies", "kam_worst", "string", "text")
        assert connector.write_account_fields(values) == 150
        assert fake.objects["companies"][companies[149]]["properties"]["kam_health"] == "90"
        assert fake.objects["companies"][companies[0]]["properties"]["kam_worst"] == ""  # None clears it
    finally:
        fake.stop()


@pytest.mark.parametrize("odd, named", [
    ({"modificationMetadata": "readOnlyValue"}, "modificationMetadata is not an object"),
    ({"modificationMetadata": ["readOnlyValue"]}, "modificationMetadata is not an object"),
    ({"options": list(SEVERITIES)}, "options are not a list of objects"),
    ({"options": "critical;high"}, "options are not a list of objects"),
    ({"type": ["enumeration"]}, "type is not text"),
    ({"calculated": "false"}, "calculated is not true or false"),
])
def test_a_property_definition_of_another_shape_is_a_crm_failure_naming_it(
        tmp_path: Path, demo_records: dict[str, list[dict[str, Any]]], odd: dict[str, Any],
        named: str) -> None:
    """A health property's definition HubSpot documents as objects, lists of options and flags,
    answered otherwise (a proxy, a broken portal), stops the run with exit 4 naming it (it was
    exit 5, or `calculated: "false"` read as calculated); nothing written."""
    fake, url, _ = start_fake(demo_records, window=1.0)
    try:
        _define(fake)
        plain = fake._property

        def answered(kind: str, name: str) -> dict[str, Any]:
            found = plain(kind, name)
            return {**found, **odd} if (kind, name) == ("companies", "kam_worst") else found
        fake._property = answered  # type: ignore[method-assign]
        ws = HsWorkspace(tmp_path / "hs", fake, url)
        ws.write_config(extra=FIELDS)
        proc = ws.cli("run", "--as-of", ANCHOR.isoformat())
        assert proc.returncode == 4, (proc.stdout, proc.stderr)
        text = " ".join(proc.stderr.split())
        assert f"'kam_worst' with a definition whose {named}" in text and "Traceback" not in text
        assert fake.writes == 0
    finally:
        fake.stop()


@pytest.mark.parametrize("answer", [{"status": "COMPLETE"}, {"results": "done"}, {}])
def test_a_batch_update_answered_without_its_results_is_refused_not_counted_silently(
        hs: HsWorkspace, answer: dict[str, Any]) -> None:
    """A 200 without `results` (a proxy's answer, a cut one) wrote none of its 100 companies and
    the run ended 0 as though it had; now the batch is refused (exit 4 after the other batches),
    and the next run writes what is still missing."""
    fake = hs.fake
    companies = len(fake.objects["companies"])
    fake.failures = [(UPDATE, 200, answer)]
    proc = hs.cli("run", "--as-of", ANCHOR.isoformat())
    assert proc.returncode == 4, (proc.stdout, proc.stderr)
    text = " ".join(proc.stderr.split())
    assert "a batch update without its results" in text and "Traceback" not in text, text
    assert fake.calls[UPDATE] == -(-companies // 100) and not fake.failures
    code, again = hs.run_json()
    assert code == 0 and again["health_written"] == 100, again
    _assert_equal_to_report(hs)
