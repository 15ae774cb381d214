"""The shipped Salesforce example config and field mapping load and validate."""

from __future__ import annotations

from pathlib import Path

import pytest

from kamrules.cli.wiring import connector_config
from kamrules.connectors.salesforce.mapping import (
    CONTACT_ROLES,
    Describe,
    MappingError,
    load_mapping,
    objects_needed,
    resolve,
)
from kamrules.model import RECORD_KINDS
from kamrules.run.config import load_config
from tests.conftest import ROOT
from tests.support.salesforce import FakeOrg


def test_example_config_validates_with_the_salesforce_model() -> None:
    loaded = load_config(ROOT / "config" / "salesforce.example.yaml")
    cfg = connector_config(loaded)
    assert cfg.type == "salesforce" and cfg.auth.method == "jwt"
    assert cfg.auth.private_key.file == "~/.kamrules/salesforce-jwt.key"
    assert cfg.key_account_filter == "Type = 'Key Account'" and cfg.api_budget_share == 0.5


def test_shipped_mapping_covers_every_record_kind_and_resolves_against_a_full_org() -> None:
    mapping = load_mapping(None)
    assert {s.kind for s in mapping.streams} == set(RECORD_KINDS) | {CONTACT_ROLES}
    org = FakeOrg()
    describe = Describe({name: org.describe_of(name) if name in org.fields else None
                         for name in objects_needed(mapping)})
    streams, errors, notes = resolve(mapping, describe)
    assert errors == [] and notes == []
    roles = next(s for s in streams if s.spec.kind == CONTACT_ROLES)
    assert roles.select() == ("Id, ContactId, OpportunityId, Opportunity.AccountId, Role, IsPrimary,"
                              " SystemModstamp")
    assert roles.account_path == "Opportunity.Account" and roles.spec.hard_deletes
    tasks = next(s for s in streams if s.spec.name == "tasks")
    assert "(SELECT RelationId FROM TaskWhoRelations)" in tasks.select()
    plans = next(s for s in streams if s.spec.name == "plans")
    assert plans.spec.watch_children and plans.child_links == [("KAM_Risk_Measure__c", "Plan__c")]
    accounts = next(s for s in streams if s.spec.name == "accounts")
    assert accounts.select(light=True) == "Id, Name, OwnerId, KAM_Revenue_History__c, SystemModstamp"


def test_a_broken_mapping_file_is_reported_with_its_path(tmp_path: Path) -> None:
    bad = tmp_path / "m.yaml"
    bad.write_text("version: 1\nstreams:\n  - name: x\n    kind: accounts\n    object: Account\n"
                   "    fields: {id: {field: Id, const: 1}}\n    colour: red\n")
    with pytest.raises(MappingError) as info:
        load_mapping(bad)
    assert str(bad) in str(info.value) and "colour" in str(info.value)
    assert "exactly one of field, const, coalesce, items, relative_year or children" in str(info.value)
