"""The shipped HubSpot example config and mapping load, and the connector config refuses unknown keys."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from kamrules.cli.wiring import connector_config
from kamrules.connectors.hubspot.config import HubSpotConfig, Mapping, load_mapping
from kamrules.errors import ValidationFailed
from kamrules.run.config import load_config

ROOT = Path(__file__).resolve().parent.parent


def test_example_config_loads_with_every_key() -> None:
    loaded = load_config(ROOT / "config" / "hubspot.example.yaml")
    config = connector_config(loaded)
    assert isinstance(config, HubSpotConfig)
    assert config.access_token.env == "HUBSPOT_TOKEN" and config.requests_per_10s == 100
    written = set(loaded.raw["crm"])
    assert written == set(HubSpotConfig.model_fields)  # the example documents every key


def test_shipped_mapping_loads_and_names_the_defaults() -> None:
    mapping, where = load_mapping(None, ROOT)
    assert where.endswith("hubspot.mapping.yaml")
    assert mapping.companies.key_account == "hs_is_target_account"
    assert mapping.values["ticket_priority"]["URGENT"] == "critical"
    assert "hs_buying_role" in mapping.properties("contacts")
    assert "kam_surveys" in mapping.properties("companies")


def test_config_refuses_unknown_keys_and_inline_tokens(tmp_path: Path) -> None:
    with pytest.raises(ValidationError):
        HubSpotConfig.model_validate({"type": "hubspot", "access_token": {"env": "X"}, "api_key": "k"})
    with pytest.raises(ValidationError):
        HubSpotConfig.model_validate({"type": "hubspot", "access_token": "pat-na1-inline"})
    with pytest.raises(ValidationError):
        HubSpotConfig.model_validate(
            {"type": "hubspot", "access_token": {"env": "X"}, "requests_per_10s": 500}
        )
    (tmp_path / "kamrules.yaml").write_text("crm:\n  type: hubspot\n  access_token: {env: X}\n  tokn: 1\n")
    with pytest.raises(ValidationFailed, match=r"kamrules.yaml:4"):
        connector_config(load_config(tmp_path / "kamrules.yaml"))


def test_a_bad_mapping_file_is_a_located_error(tmp_path: Path) -> None:
    (tmp_path / "m.yaml").write_text("companies:\n  name: name\n  revenu: annualrevenue\n")
    with pytest.raises(ValidationFailed, match=r"m.yaml:3"):
        load_mapping("m.yaml", tmp_path)
    assert Mapping().companies.name == "name"


def test_custom_object_sections_are_checked_where_they_are_written(tmp_path: Path) -> None:
    (tmp_path / "m.yaml").write_text("companies:\n  name: name\nsurveys:\n  object: customer_surveys\n")
    with pytest.raises(
        ValidationFailed, match=r"m.yaml:4:\d+: surveys.object: 'customer_surveys' is no custom"
    ):
        load_mapping("m.yaml", tmp_path)
    (tmp_path / "m.yaml").write_text("extras:\n  surveys: kam_surveys\nsurveys:\n  object: p_surveys\n")
    with pytest.raises(ValidationFailed, match=r"m.yaml:3:\d+: surveys: .*set extras.surveys to null"):
        load_mapping("m.yaml", tmp_path)
    (tmp_path / "m.yaml").write_text("contracts: {object: 2-123456, end_date: ends_on}\n")
    mapping, _ = load_mapping("m.yaml", tmp_path)  # no extras written: the object replaces their defaults
    assert mapping.extras is not None and mapping.extras.contract_end is None
    assert mapping.extras.surveys == "kam_surveys"


def test_a_custom_object_source_replaces_the_company_properties() -> None:
    shipped, _ = load_mapping(None, ROOT)
    assert shipped.custom_sources() == {}
    mapping = Mapping.model_validate(
        {
            "plans": {"object": "p_account_plans", "objectives": "goals"},
            "surveys": {"object": "2-123456"},
            "contracts": {"object": "p4711_contracts", "end_date": "ends_on"},
        }
    )
    assert set(mapping.custom_sources()) == {"plans", "surveys", "contracts"}
    companies = mapping.properties("companies")
    assert not [p for p in companies if p.startswith("kam_plan") or p == "goals"]
    assert {"kam_surveys", "kam_contract_end_date", "kam_renewal_status"}.isdisjoint(companies)
    assert "kam_account_team" in companies  # the team still comes from the company
    assert mapping.plans is not None and "goals" in mapping.plans.property_names()
    assert "hs_lastmodifieddate" in mapping.plans.property_names()  # the bookmark of its pulls
    assert mapping.contracts is not None and mapping.contracts.property_names() == [
        "start_date",
        "ends_on",
        "renewal_status",
        "hs_lastmodifieddate",
    ]


def test_the_documented_custom_object_mapping_loads() -> None:
    from ruamel.yaml import YAML

    text = (ROOT / "docs" / "hubspot.md").read_text()
    section = text[text.index("### Plans, surveys and contracts from a custom object") :]
    block = section[section.index("```yaml\n") + 8 : section.index("```\n", section.index("```yaml\n") + 8)]
    mapping = Mapping.model_validate(YAML(typ="safe").load(block))
    assert set(mapping.custom_sources()) == {"plans", "surveys", "contracts"}
    assert mapping.extras is not None and mapping.extras.team == "kam_account_team"
