"""Plans, surveys and contracts from HubSpot custom objects: an unknown object stops the run before
any data moves, missing properties are named with the ones that exist, values that do not parse
skip their record only, a company's latest plan record wins, and pulls are incremental and minimal.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from kamrules.connectors.cache import RecordCache
from kamrules.connectors.hubspot.config import Mapping
from kamrules.connectors.hubspot.connector import HubSpotConnector
from kamrules.errors import KamError
from tests.conftest import ANCHOR
from tests.support.hubspot import RELATED, FakeHubSpot, minimal_calls
from tests.support.hubspot_workspace import HsWorkspace, custom_mapping, hubspot_connector, start_fake

SECTIONS = ("plans", "surveys", "contracts")


@pytest.fixture
def portal(demo_records: dict[str, list[dict[str, Any]]]) -> Iterator[tuple[FakeHubSpot, str, dict]]:
    fake, url, ids = start_fake(demo_records, custom=SECTIONS, budget=40, window=0.25)
    yield fake, url, ids
    fake.stop()


def _connector(url: str, mapping_text: str, cache: RecordCache | None = None) -> HubSpotConnector:
    return hubspot_connector(url, mapping_text, cache)


def _all_custom(ids: dict[str, Any], by: str = "name") -> str:
    return custom_mapping({s: ids["objects"][s][by] for s in SECTIONS})


def _records_of(fake: FakeHubSpot, type_id: str, company: str) -> list[dict[str, Any]]:
    linked = fake.links[("companies", type_id)].get(company, {})
    return [fake.objects[type_id][oid] for oid in sorted(linked, key=int)]


def test_custom_objects_give_the_portfolio_by_any_of_their_names(
    portal: tuple[FakeHubSpot, str, dict], demo_records: dict[str, list[dict[str, Any]]]
) -> None:
    fake, url, ids = portal
    by_name = _connector(url, _all_custom(ids, "name")).pull(ANCHOR)
    by_fqn = _connector(url, _all_custom(ids, "fqn")).pull(ANCHOR)
    by_id = _connector(url, _all_custom(ids, "type_id")).pull(ANCHOR)
    to_hs = ids["accounts"]
    for snapshot in (by_name, by_fqn, by_id):
        assert snapshot.warnings == []
        for section in SECTIONS:  # the canonical records, only the account ids translated
            expected = sorted(
                ({**r, "account_id": to_hs[r["account_id"]]} for r in demo_records[section]),
                key=repr,
            )
            got = sorted(
                (r.model_dump(mode="json", exclude_defaults=True) for r in getattr(snapshot, section)),
                key=repr,
            )
            assert [_drop_defaults(section, r) for r in expected] == got, section
    assert by_name.model_dump() == by_fqn.model_dump() == by_id.model_dump()


def _drop_defaults(section: str, record: dict[str, Any]) -> dict[str, Any]:
    from kamrules.model import RECORD_KINDS

    model = RECORD_KINDS[section]
    return model.model_validate(record).model_dump(mode="json", exclude_defaults=True)


def test_an_unknown_custom_object_stops_the_run_before_any_data_moves(
    tmp_path: Path, demo_records: dict[str, list[dict[str, Any]]]
) -> None:
    fake, url, ids = start_fake(demo_records, custom=("surveys",), window=1.0)
    try:
        ws = HsWorkspace(tmp_path / "hs", fake, url)
        ws.write_config(extra_crm="  mapping: custom.mapping.yaml\n")
        (ws.root / "custom.mapping.yaml").write_text(custom_mapping({"surveys": "p_customer_survey"}))
        before = dict(fake.calls)
        proc = ws.cli("run", "--as-of", ANCHOR.isoformat())
        assert proc.returncode == 2, proc.stderr
        message = " ".join(proc.stderr.split())
        assert "custom.mapping.yaml: surveys.object 'p_customer_survey' is no custom object" in message
        assert "p_customer_surveys (2-7000001, p4711123_customer_surveys: Customer surveys)" in message
        assert "Did you mean 'p_customer_surveys'?" in message
        assert "Nothing was pulled or written" in message
        made = {k: v - before.get(k, 0) for k, v in fake.calls.items() if v != before.get(k, 0)}
        assert made == {"GET /crm-object-schemas/v3/schemas": 1}  # the lookup, nothing else
        assert fake.tasks() == []
        assert (
            not (ws.root / "state" / "hubspot-cache.sqlite").exists()
            or not RecordCache(ws.root / "state" / "hubspot-cache.sqlite").bookmarks()
        )
    finally:
        fake.stop()


def test_a_portal_without_custom_objects_says_so(demo_records: dict[str, list[dict[str, Any]]]) -> None:
    fake, url, _ = start_fake(demo_records, budget=40, window=0.25)
    try:
        with pytest.raises(KamError, match="it has none; custom objects need an Enterprise subscription"):
            _connector(url, custom_mapping({"plans": "2-123456"})).pull(ANCHOR)
        assert sum(fake.calls.values()) == 1
    finally:
        fake.stop()


def test_missing_custom_properties_are_named_with_those_that_exist(
    portal: tuple[FakeHubSpot, str, dict],
) -> None:
    fake, url, ids = portal
    surveys, contracts = ids["objects"]["surveys"], ids["objects"]["contracts"]
    props = fake.properties[surveys["type_id"]]
    props[props.index("survey_score")] = "score_value"  # renamed in the portal, not in the mapping
    for record in fake.objects[surveys["type_id"]].values():
        record["properties"]["score_value"] = record["properties"].pop("survey_score")
    fake.schemas[contracts["type_id"]]["associations"] = []  # and contracts lost their company link
    snapshot = _connector(url, _all_custom(ids)).pull(ANCHOR)
    by_id = {w.record_id: w for w in snapshot.warnings if w.kind == "hubspot mapping"}
    missing = by_id["p_customer_surveys.survey_score"].message
    assert (
        f"custom object p_customer_surveys ({surveys['type_id']}) has no property 'survey_score'" in missing
    )
    assert "score_value" in missing
    assert "no association with companies" in by_id["p_kam_contracts"].message
    assert snapshot.surveys == []  # every survey lacks its score now: each one a record warning
    skipped = [w for w in snapshot.warnings if w.kind == "hubspot surveys"]
    assert skipped and all(w.message == "survey_score: empty" for w in skipped)
    assert len(snapshot.plans) > 30 and len(snapshot.contracts) == 40  # the others are unaffected


def test_bad_values_skip_only_their_record_or_field(portal: tuple[FakeHubSpot, str, dict]) -> None:
    fake, url, ids = portal
    objects = ids["objects"]
    baltic = ids["accounts"]["ACC-000002"]
    first, second = _records_of(fake, objects["surveys"]["type_id"], baltic)
    fake.update(objects["surveys"]["type_id"], first["id"], {"survey_score": "n/a"})
    [contract] = _records_of(fake, objects["contracts"]["type_id"], baltic)
    fake.update(objects["contracts"]["type_id"], contract["id"], {"end_date": "next spring"})
    [plan] = _records_of(fake, objects["plans"]["type_id"], baltic)
    fake.update(objects["plans"]["type_id"], plan["id"], {"horizon_years": "five"})
    danube = ids["accounts"]["ACC-000005"]
    kinds = _records_of(fake, objects["surveys"]["type_id"], danube)
    fake.update(objects["surveys"]["type_id"], kinds[0]["id"], {"survey_kind": "CES"})
    fake.update(
        objects["contracts"]["type_id"],
        _records_of(fake, objects["contracts"]["type_id"], danube)[0]["id"],
        {"renewal_status": "MAYBE"},
    )

    snapshot = _connector(url, _all_custom(ids)).pull(ANCHOR)
    warned = {(w.kind, w.record_id): w.message for w in snapshot.warnings}
    assert warned == {
        ("hubspot surveys", first["id"]): "survey_score: 'n/a' is not a number",
        ("hubspot contracts", contract["id"]): "end_date: 'next spring' is not a date",
        # an optional field that does not parse loses only that field (the plan stays)
        ("plans", plan["id"]): "field horizon_years (from horizon_years): value 'five' does not parse"
        " ('five' is not a number); left unknown, the record is kept",
        (
            "hubspot surveys",
            kinds[0]["id"],
        ): "survey_kind: 'CES' is not csat or nps (values.survey_kind translates)",
        ("hubspot contracts", _records_of(fake, objects["contracts"]["type_id"], danube)[0]["id"]): (
            "renewal_status: 'MAYBE' is not none, in_progress, renewed or lost"
            " (values.renewal_status translates)"
        ),
    }
    assert len(snapshot.accounts) == 300  # the companies themselves are all there
    assert [s.score for s in snapshot.surveys if s.account_id == baltic] == [
        float(second["properties"]["survey_score"])
    ]
    assert not any(c.account_id == baltic for c in snapshot.contracts)
    [kept] = [p for p in snapshot.plans if p.account_id == baltic]
    assert kept.horizon_years is None and kept.objectives
    assert snapshot.field_stats["plans.horizon_years"].failed == 1


def test_a_company_with_several_plan_records_uses_the_latest(portal: tuple[FakeHubSpot, str, dict]) -> None:
    fake, url, ids = portal
    plans = ids["objects"]["plans"]["type_id"]
    baltic = ids["accounts"]["ACC-000002"]
    [old] = _records_of(fake, plans, baltic)
    time.sleep(0.01)
    new = fake.add(plans, {**old["properties"], "objectives": "Double the share of wallet by 2028."})
    fake.link("companies", baltic, plans, new)
    snapshot = _connector(url, _all_custom(ids)).pull(ANCHOR)
    [plan] = [p for p in snapshot.plans if p.account_id == baltic]
    assert plan.objectives == "Double the share of wallet by 2028."
    [warning] = [w for w in snapshot.warnings if w.kind == "hubspot plans"]
    assert warning.record_id == old["id"]
    assert (
        f"company {baltic} has 2 account plans; only the most recently modified one ({new})"
        in warning.message
    )

    time.sleep(0.01)
    fake.update(plans, old["id"], {"objectives_reviewed": "2026-10-30"})  # now the old one is the latest
    snapshot = _connector(url, _all_custom(ids)).pull(ANCHOR)
    [plan] = [p for p in snapshot.plans if p.account_id == baltic]
    assert plan.objectives != "Double the share of wallet by 2028." and plan.objectives_reviewed == date(
        2026, 10, 30
    )


def test_custom_objects_pull_minimally_and_incrementally(
    portal: tuple[FakeHubSpot, str, dict], tmp_path: Path
) -> None:
    fake, url, ids = portal
    fake.backdate(3600)  # older than the 15 min lookback
    mapping = _all_custom(ids)
    custom = tuple(ids["objects"][s]["type_id"] for s in SECTIONS)
    surveys = ids["objects"]["surveys"]["type_id"]

    def pull(changed: dict[str, int] | None, uncached: dict[str, int] | None = None) -> Any:
        time.sleep(0.25)  # let the fake's window drain between runs
        conn = _connector(url, mapping, RecordCache(tmp_path / "cache.sqlite"))
        calls = sum(fake.calls.values())
        snapshot = conn.pull(ANCHOR)
        conn.commit()
        conn.close()
        minimal = minimal_calls(fake, 0, 0, changed=changed, uncached=uncached, custom=custom)
        minimal.pop("task list pages (100)")  # a pull only: no task read-back
        assert sum(fake.calls.values()) - calls == conn.api_calls == sum(minimal.values()), (
            conn.calls_by_endpoint,
            minimal,
        )
        return conn, snapshot

    _, full = pull(None)
    baltic = ids["accounts"]["ACC-000002"]
    first, _ = _records_of(fake, surveys, baltic)
    fake.update(surveys, first["id"], {"survey_score": "3.5"})  # an edit: found by search
    added = fake.add(surveys, {"survey_date": "2026-10-28", "survey_kind": "NPS", "survey_score": "9"})
    fake.link("companies", baltic, surveys, added)  # a new record: found through the associations
    conn, again = pull({surveys: 2}, uncached={surveys: 0})  # the new one is in the search delta too
    assert conn.calls_by_endpoint.get(f"POST /crm/v3/objects/{surveys}/batch/read", 0) == 0
    assert conn.calls_by_endpoint[f"POST /crm/v3/objects/{surveys}/search"] == 1
    mine = sorted((s.date.isoformat(), s.kind, s.score) for s in again.surveys if s.account_id == baltic)
    assert ("2026-10-28", "nps", 9.0) in mine and any(score == 3.5 for _, _, score in mine)
    assert len(again.surveys) == len(full.surveys) + 1 and len(again.plans) == len(full.plans)

    # linked without a modification since the bookmark: only the association shows it, read by id
    old = fake.add(surveys, {"survey_date": "2026-09-01", "survey_kind": "CSAT", "survey_score": "7"})
    fake.backdate(3600)
    fake.link("companies", ids["accounts"]["ACC-000005"], surveys, old)
    conn, third = pull({}, uncached={surveys: 1})
    assert conn.calls_by_endpoint[f"POST /crm/v3/objects/{surveys}/batch/read"] == 1
    assert len(third.surveys) == len(again.surveys) + 1
    assert set(custom) | set(RELATED) <= set(RecordCache(tmp_path / "cache.sqlite").bookmarks())


def test_sections_sharing_one_object_under_different_names_read_it_once() -> None:
    from kamrules.connectors.hubspot.objects import resolve

    schema = {
        "id": "123456",  # an older response: no objectTypeId, no company association
        "fullyQualifiedName": "p4711_kam_records",
        "name": "kam_records",
        "labels": {"plural": "KAM records"},
        "associations": [{"id": "7", "fromObjectTypeId": "2-123456", "toObjectTypeId": "0-1"}],
    }
    mapping = Mapping.model_validate(
        {
            "plans": {"object": "p_kam_records", "objectives": "goals"},
            "contracts": {"object": "2-123456", "end_date": "ends_on"},
        }
    )
    [(type_id, obj)] = resolve(mapping, [schema], "m.yaml").items()
    assert type_id == "2-123456" and obj.sections == ["plans", "contracts"]
    assert {"goals", "ends_on", "hs_lastmodifieddate"} <= obj.properties
    assert not obj.linked_to_companies  # reported as a warning at the start of the pull
