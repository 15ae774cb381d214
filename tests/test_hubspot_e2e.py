"""HubSpot end to end through the CLI against the fake portal: idempotent runs, the same findings
as the local CRM (also with plans and surveys in custom objects), per-record batch failures,
human vs kamrules completion, secrets never shown.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import make_workspace
from tests.support.hubspot import FakeHubSpot
from tests.support.hubspot_workspace import TOKEN, HsWorkspace, custom_mapping, start_fake


@pytest.fixture
def hs(tmp_path: Path, demo_records: dict[str, list[dict[str, Any]]]) -> Iterator[HsWorkspace]:
    fake, url, ids = start_fake(demo_records, window=1.0)  # HubSpot's 10 s, scaled down
    fake.ids = ids  # type: ignore[attr-defined]
    ws = HsWorkspace(tmp_path / "hs", fake, url)
    ws.write_config()
    yield ws
    fake.stop()


def _marker_fps(fake: FakeHubSpot) -> list[str]:
    from kamrules.protocol.marker import read_marker

    return [read_marker(t["properties"]["hs_task_body"])[0] for t in fake.tasks()]  # type: ignore[index]


def test_run_twice_second_run_writes_nothing(hs: HsWorkspace) -> None:
    before = sum(hs.fake.calls.values())
    code, first = hs.run_json()
    assert code == 0, first
    created = first["counts"]["created"]
    assert created > 100 and first["counts"]["failed"] == 0
    assert first["api_calls"] == sum(hs.fake.calls.values()) - before  # the report counts every call
    writes = hs.fake.writes
    assert writes == -(-created // 100)  # batches of 100
    task = next(t for t in hs.fake.tasks()
                if "only 2 contacts in the CRM" in t["properties"]["hs_task_subject"])
    assert task["properties"]["hs_task_status"] == "NOT_STARTED"
    assert task["properties"]["hs_task_priority"] == "HIGH"
    assert task["properties"]["hs_timestamp"].startswith("2026-11-22")
    assert task["properties"]["hubspot_owner_id"]
    assert "kamrules:" in task["properties"]["hs_task_body"].splitlines()[-1]
    assert hs.fake.links[("tasks", "companies")][task["id"]] == {hs.fake.ids["accounts"]["ACC-000002"]: [192]}

    code, second = hs.run_json()
    assert code == 0
    assert second["counts"]["created"] == 0 and second["counts"]["kept"] == created
    assert hs.fake.writes == writes  # no write call at all
    assert hs.fake.calls["POST /crm/v3/objects/tasks/batch/create"] == writes
    assert hs.fake.calls["POST /crm/v3/objects/tasks/batch/update"] == 0
    fps = _marker_fps(hs.fake)
    assert len(fps) == created == len(set(fps))
    assert "search" in " ".join(hs.fake.calls)  # the second pull was incremental


def _assert_same_plan(hs: HsWorkspace, local_plan: dict[str, Any]) -> dict[str, Any]:
    code, hs_plan = hs.run_json("plan")
    assert code == 0, hs_plan
    to_hs = hs.fake.ids["accounts"]  # type: ignore[attr-defined]

    def translated(change: dict[str, Any]) -> tuple[str, str]:
        parts = change["fingerprint"].split("/")  # pack/rule/account or pack/play/account/step
        parts[2] = to_hs[parts[2]]
        return "/".join(parts), change["subject"]

    expected = {translated(c) for c in local_plan["changes"]}
    got = {(c["fingerprint"], c["subject"]) for c in hs_plan["changes"]}
    assert len(expected) > 100
    assert got == expected
    assert hs_plan["accounts"] == local_plan["accounts"] and hs_plan["findings"] == local_plan["findings"]
    assert hs_plan["warnings"] == []
    return hs_plan


def test_same_findings_as_the_local_crm(
    hs: HsWorkspace, tmp_path: Path, demo_records: dict[str, list[dict[str, Any]]]
) -> None:
    local = make_workspace(tmp_path / "local", demo_records)
    _assert_same_plan(hs, local.run_json(command="plan"))
    assert not any("schemas" in e for e in hs.fake.calls)  # no custom object mapped: no schemas call


def test_same_findings_with_plans_and_surveys_in_custom_objects(
    tmp_path: Path, demo_records: dict[str, list[dict[str, Any]]]
) -> None:
    """Plans and surveys (several per company) as records of custom objects, named once by
    p_<name> and once by objectTypeId; contracts stay company properties. Same findings."""
    fake, url, ids = start_fake(demo_records, custom=("plans", "surveys"), window=1.0)
    fake.ids = ids  # type: ignore[attr-defined]
    try:
        ws = HsWorkspace(tmp_path / "hs", fake, url)
        ws.write_config(extra_crm="  mapping: custom.mapping.yaml\n")
        plans, surveys = ids["objects"]["plans"], ids["objects"]["surveys"]
        mapping = custom_mapping({"plans": plans["name"], "surveys": surveys["type_id"]})
        (ws.root / "custom.mapping.yaml").write_text(mapping)
        per_company = [len(v) for v in fake.links[("companies", surveys["type_id"])].values()]
        assert max(per_company) >= 2 and sum(per_company) == len(demo_records["surveys"])
        assert not any(c["properties"].get("kam_surveys") for c in fake.objects["companies"].values())
        assert not any(c["properties"].get("kam_plan_objectives") for c in fake.objects["companies"].values())

        local = make_workspace(tmp_path / "local", demo_records)
        local_plan = local.run_json(command="plan")
        assert any(
            "satisfaction" in c["subject"].lower() or "survey" in c["subject"].lower()
            for c in local_plan["changes"]
        )  # survey rules do fire: the comparison covers them
        _assert_same_plan(ws, local_plan)
        assert fake.calls["GET /crm-object-schemas/v3/schemas"] == 1
        assert fake.calls[f"POST /crm/v4/associations/companies/{surveys['type_id']}/batch/read"] == 1
        assert fake.calls[f"POST /crm/v3/objects/{plans['type_id']}/batch/read"] == 1
        assert fake.calls[f"GET /crm/v3/properties/{plans['type_id']}"] == 1

        code, run = ws.run_json()  # and the same again incrementally: a search per custom object
        assert code == 0 and run["warnings"] == []
        code, again = ws.run_json()
        assert (
            code == 0
            and again["counts"]["created"] == 0
            and again["counts"]["kept"] == run["counts"]["created"]
        )
        assert fake.calls[f"POST /crm/v3/objects/{surveys['type_id']}/search"] == 1
    finally:
        fake.stop()


def test_mixed_batch_results_are_per_record(hs: HsWorkspace) -> None:
    hs.fake.reject_create = lambda p: (
        "Property values were not valid" if "Baltic" in p["hs_task_subject"] else None
    )
    code, report = hs.run_json()
    assert code == 1  # partial failure, documented
    failed = [c for c in report["changes"] if not c["ok"]]
    assert failed and all("Baltic Foods" in c["subject"] for c in failed)
    assert all("VALIDATION_ERROR" in c["error"] for c in failed)
    ok = [c for c in report["changes"] if c["ok"] and c["action"] == "create"]
    assert len(ok) == len(hs.fake.tasks()) and all(c["crm_id"] for c in ok)
    hs.fake.reject_create = None
    code, again = hs.run_json()
    assert code == 0
    assert again["counts"]["created"] == len(failed)
    assert len(set(_marker_fps(hs.fake))) == len(hs.fake.tasks())


def test_completed_by_hand_is_suppressed_closed_by_kamrules_is_not(hs: HsWorkspace) -> None:
    hs.run_json()
    by_fp = {fp: t for fp, t in zip(_marker_fps(hs.fake), hs.fake.tasks(), strict=True)}
    baltic = hs.fake.ids["accounts"]["ACC-000002"]  # type: ignore[attr-defined]
    ural = hs.fake.ids["accounts"]["ACC-000003"]  # type: ignore[attr-defined]
    hand = by_fp[f"kam-core/KAM-REL-004/{baltic}"]
    hs.fake.complete_task(hand["id"], "2026-10-31")
    # Ural's late delivery gets escalated and closed: kamrules closes its task
    case = next(
        t
        for t in hs.fake.objects["tickets"].values()
        if t["properties"]["subject"].startswith("Late delivery")
        and ural in hs.fake.links[("tickets", "companies")][t["id"]]
    )
    hs.fake.update(
        "tickets",
        case["id"],
        {"hs_pipeline_stage": "4", "closed_date": "2026-10-31T10:00:00.000Z", "kam_escalated": "true"},
    )
    code, report = hs.run_json()
    assert code == 0
    actions = {c["fingerprint"]: c["action"] for c in report["changes"]}
    assert actions[f"kam-core/KAM-REL-004/{baltic}"] == "suppressed"
    assert actions[f"kam-core/KAM-DO-003/{ural}"] == "close"
    closed = by_fp[f"kam-core/KAM-DO-003/{ural}"]
    assert hs.fake.objects["tasks"][closed["id"]]["properties"]["hs_task_status"] == "COMPLETED"
    assert (
        "Closed by kamrules: resolved" in hs.fake.objects["tasks"][closed["id"]]["properties"]["hs_task_body"]
    )
    code, again = hs.run_json()
    assert again["counts"]["created"] == 0 and again["counts"]["closed"] == 0
    assert {c["fingerprint"]: c["action"] for c in again["changes"]}[
        f"kam-core/KAM-REL-004/{baltic}"
    ] == "suppressed"


def _assert_secret_nowhere(ws: HsWorkspace, *texts: str) -> None:
    for text in texts:
        assert TOKEN not in text
    for file in (ws.root / "state").rglob("*") if (ws.root / "state").exists() else []:
        if file.is_file():
            assert TOKEN.encode() not in file.read_bytes(), file


def test_bad_token_is_a_clear_crm_error_and_never_shown(hs: HsWorkspace) -> None:
    wrong = TOKEN[:-4] + "XXXX"
    proc = hs.cli("run", "--as-of", "2026-11-01", "--json", token=wrong)
    assert proc.returncode == 4
    assert "401" in proc.stderr and "INVALID_AUTHENTICATION" in proc.stderr
    assert "Authentication credentials not found" in proc.stderr
    assert wrong not in proc.stdout + proc.stderr
    _assert_secret_nowhere(hs, proc.stdout, proc.stderr)
    hist = hs.cli("history", "--json")
    assert json.loads(hist.stdout)[0]["outcome"] == "error"
    _assert_secret_nowhere(hs, hist.stdout)


def test_crm_failure_is_exit_4_and_token_never_shown(hs: HsWorkspace) -> None:
    body = {"status": "error", "message": f"internal error for token {TOKEN}", "category": "INTERNAL_ERROR"}
    hs.fake.failures = [("GET /crm/v3/objects/companies", 503, body)] * 3
    proc = hs.cli("run", "--as-of", "2026-11-01")
    assert proc.returncode == 4
    assert "after 3 tries (HTTP 503)" in proc.stderr
    _assert_secret_nowhere(hs, proc.stdout, proc.stderr)
    hs.fake.failures = [("GET /crm/v3/objects/companies", 400, body)]
    proc = hs.cli("run", "--as-of", "2026-11-01")
    assert proc.returncode == 4 and "internal error for token ***" in proc.stderr
    _assert_secret_nowhere(hs, proc.stdout, proc.stderr)


def test_missing_token_variable_is_a_config_error(hs: HsWorkspace) -> None:
    proc = hs.cli("plan", token="")
    assert proc.returncode == 2 and "KR_HUBSPOT_TOKEN is not set" in proc.stderr


def test_daily_limit_during_writes_stops_with_what_was_written(hs: HsWorkspace) -> None:
    # HubSpot serves the pull, the task list and one write, then answers DAILY
    hs.fake.daily_after_first = "POST /crm/v3/objects/tasks/batch/create"
    code, report = hs.run_json()
    assert code == 1
    written = [c for c in report["changes"] if c["ok"] and c["action"] == "create"]
    failed = [c for c in report["changes"] if not c["ok"]]
    assert len(written) == 100 == len(hs.fake.tasks())
    assert failed and all("daily API limit" in c["error"] for c in failed)
    assert hs.fake.refused["DAILY"] == 1  # it stopped at the first DAILY answer


def test_daily_limit_during_pull_is_exit_4_and_nothing_written(hs: HsWorkspace) -> None:
    hs.fake.daily_after = sum(hs.fake.calls.values()) + 5
    proc = hs.cli("run", "--as-of", "2026-11-01")
    assert proc.returncode == 4 and "daily API limit" in proc.stderr
    assert hs.fake.tasks() == [] and hs.fake.refused["DAILY"] == 1


def test_missing_mapped_property_is_reported_with_names_that_exist(hs: HsWorkspace) -> None:
    hs.fake.properties["contacts"].remove("kam_department")
    hs.fake.properties["contacts"].append("department_name")
    code, report = hs.run_json("plan")
    warning = next(w for w in report["warnings"] if w["record_id"] == "contacts.kam_department")
    assert "no property 'kam_department'" in warning["message"]
    assert "department_name" in warning["message"]


def test_values_that_do_not_parse_lose_their_field_not_their_record(hs: HsWorkspace) -> None:
    ids = hs.fake.ids  # type: ignore[attr-defined]
    hs.fake.update("companies", ids["accounts"]["ACC-000005"], {"kam_potential": "lots"})
    hs.fake.update("companies", ids["accounts"]["ACC-000002"], {"kam_supplier_status": "yes"})
    contact = ids["contacts"]["CON-000001"]
    hs.fake.update("contacts", contact, {"createdate": "last tuesday"})
    code, report = hs.run_json("plan")
    assert code == 0 and report["accounts"] == 300  # every company stays in the run
    by_id = {w["record_id"]: w for w in report["warnings"]}
    danube = by_id[ids["accounts"]["ACC-000005"]]
    assert danube["kind"] == "accounts"
    assert "field potential (from kam_potential): value 'lots'" in danube["message"]
    assert "field preferred_supplier (from kam_supplier_status): value 'yes'" in (
        by_id[ids["accounts"]["ACC-000002"]]["message"])
    assert "field created (from createdate): value 'last tuesday'" in by_id[contact]["message"]
    stats = {s["field"]: s for s in report["field_failures"]}
    assert stats["accounts.potential"]["failed"] == 1 and stats["accounts.potential"]["present"] > 30
    assert stats["contacts.created"]["samples"] == ["'last tuesday'"]


def test_incremental_pull_sees_changes_and_commits_bookmarks_only_after_writes(hs: HsWorkspace) -> None:
    from kamrules.connectors.cache import RecordCache

    hs.write_config(extra_crm="  lookback_minutes: 0\n")
    code, _ = hs.run_json()
    assert code == 0
    cache_file = hs.root / "state" / "hubspot-cache.sqlite"
    marks = RecordCache(cache_file).bookmarks()
    assert set(marks) >= {"companies", "contacts", "meetings", "tickets"}
    ids = hs.fake.ids  # type: ignore[attr-defined]
    baltic, danube = ids["accounts"]["ACC-000002"], ids["accounts"]["ACC-000005"]
    new = hs.fake.add(
        "contacts",
        {
            "firstname": "Nova",
            "lastname": "Kontakt",
            "kam_department": "finance",
            "createdate": "2026-10-20T10:00:00.000Z",
        },
    )
    hs.fake.link("companies", baltic, "contacts", new, [280])
    hs.fake.update("companies", danube, {"hs_is_target_account": "false"})
    hs.fake.failures = [
        (
            "POST /crm/v3/objects/tasks/batch/update",
            400,
            {"status": "error", "message": "Property values were not valid", "category": "VALIDATION_ERROR"},
        )
    ]
    calls = dict(hs.fake.calls)
    code, failed = hs.run_json()
    assert code == 1 and failed["counts"]["failed"] > 0
    searched = hs.fake.calls["GET /crm/v3/objects/companies"] == calls["GET /crm/v3/objects/companies"]
    assert searched and hs.fake.calls["POST /crm/v3/objects/companies/search"] > 0  # incremental
    assert RecordCache(cache_file).bookmarks() == marks  # not committed: the run's writes failed
    code, report = hs.run_json()
    assert code == 0
    actions = {c["fingerprint"]: (c["action"], c["subject"]) for c in report["changes"]}
    assert actions[f"kam-core/KAM-REL-004/{baltic}"] == ("update", "Baltic Foods: only 3 contacts in the CRM")
    # no longer key: its key-account tasks close (here the renewal play's step, which had taken
    # over the renewal finding's task)
    assert "close" in {a for fp, (a, _) in actions.items() if fp.split("/")[2] == danube}
    assert RecordCache(cache_file).bookmarks()["companies"] > marks["companies"]
