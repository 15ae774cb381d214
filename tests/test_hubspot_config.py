"""The shipped HubSpot example config and mapping load, and the connector config refuses unknown keys."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from connectors.base import connector_config
from connectors.hs_config import HubSpotConfig, Mapping, load_mapping
from kamrules.config import load_config
from kamrules.errors import ValidationFailed

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
