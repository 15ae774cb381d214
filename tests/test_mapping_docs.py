"""Every example in docs/mapping.md is loaded: field specs are applied to their record and give
the documented value; stream, HubSpot mapping and config examples validate."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import pytest
from ruamel.yaml import YAML

from kamrules.connectors.hubspot.config import Mapping as HubSpotMapping
from kamrules.connectors.mapping.language import Spec, as_spec, evaluate
from kamrules.connectors.salesforce.mapping import StreamSpec
from kamrules.run.config import Config
from tests.conftest import ROOT

AS_OF = date(2026, 11, 1)
BLOCKS = re.findall(r"```yaml\n(.*?)```", (ROOT / "docs" / "mapping.md").read_text(), re.S)


def _load(text: str) -> Any:
    return YAML(typ="safe").load(text)


def _examples(kind: str) -> list[str]:
    return [b for b in BLOCKS if b.startswith(f"# {kind}\n")]


def test_every_block_is_a_known_kind_of_example() -> None:
    kinds = [b.split("\n", 1)[0] for b in BLOCKS]
    assert set(kinds) == {"# field", "# salesforce stream", "# hubspot mapping", "# kamrules config"}
    assert len(_examples("field")) >= 14


@pytest.mark.parametrize("block", _examples("field"), ids=lambda b: b.rsplit("\n", 2)[-2][:40])
def test_field_example_gives_the_documented_value(block: str) -> None:
    record = _load(re.search(r"^# record: (.*)$", block, re.M).group(1))  # type: ignore[union-attr]
    expected = _load(re.search(r"^# gives: (.*)$", block, re.M).group(1))  # type: ignore[union-attr]
    raw = _load(block)
    spec = as_spec(raw) if isinstance(raw, str) else Spec.model_validate(raw)
    assert evaluate(spec, record.get, AS_OF) == expected


@pytest.mark.parametrize("block", _examples("salesforce stream"))
def test_salesforce_stream_examples_validate(block: str) -> None:
    StreamSpec.model_validate(_load(block))


@pytest.mark.parametrize("block", _examples("hubspot mapping"))
def test_hubspot_mapping_examples_validate(block: str) -> None:
    mapping = HubSpotMapping.model_validate(_load(block))
    assert "kam_field_reps" in mapping.properties("companies")  # fields: are read from companies
    assert "kam_is_primary" in mapping.properties("contacts")


@pytest.mark.parametrize("block", _examples("kamrules config"))
def test_config_examples_validate(block: str) -> None:
    Config.model_validate(_load(block))
