"""Numbers people typed into a CRM's text fields are read as people write them, as the CSV import
reads them: `250.000` (German for 250,000) was read as 250 without a word through either CRM;
it is now a field failure naming both readings, and `1.250.000,50` is read. Numbers the CRM
types as numbers (Salesforce's JSON numbers, HubSpot's number properties, which arrive as text)
are read as a machine writes them."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest

from kamrules.connectors.hubspot.values import parse_date
from kamrules.connectors.mapping.language import BadValue, Spec, evaluate, to_date, to_float
from kamrules.connectors.salesforce import connector as salesforce
from kamrules.connectors.written import Ambiguous, written_date, written_number
from tests.conftest import ANCHOR, ROOT
from tests.support.hubspot_workspace import hubspot_connector, start_fake
from tests.support.salesforce import FakeServer
from tests.support.salesforce_fields import add_field
from tests.support.salesforce_workspace import ENV, TOKEN, fake_org, sf_config, tls_cert  # noqa: F401

AMBIGUOUS = "'250.000' may be 250000 or 250; write it without a thousands separator"


@pytest.mark.parametrize(("text", "plain"), [
    ("1 250 000,50", "1250000.50"), ("1.250.000,50", "1250000.50"), ("1,250,000.50", "1250000.50"),
    ("1'250'000", "1250000"), ("4,5", "4.5"), ("-0,125", "-0.125"), ("1 250", "1250"),
    ("1e6", "1e6"), ("n/a", "n/a"),
])
def test_people_numbers_read_whichever_mark_groups(text: str, plain: str) -> None:
    assert written_number(text) == plain


@pytest.mark.parametrize("text", ["250.000", "1,500", "-12.345"])
def test_one_mark_before_three_digits_is_ambiguous(text: str) -> None:
    with pytest.raises(Ambiguous, match="may be"):
        written_number(text)


def test_machine_text_and_people_text_are_read_apart() -> None:
    assert to_float("250.000", ANCHOR) == 250.0  # a number property's text: as a machine writes
    assert to_float("1,250,000", ANCHOR) == 1250000.0
    with pytest.raises(BadValue, match="may be 250000 or 250"):
        to_float("250.000", ANCHOR, people=True)
    assert to_float("1.250.000,50", ANCHOR, people=True) == 1250000.5
    assert to_float(250.0, ANCHOR, people=True) == 250.0  # a typed number is never text


def test_a_value_map_gives_the_mapping_files_value_not_the_crms_text() -> None:
    spec = Spec.model_validate({"field": "Band", "convert": "float", "values": {"big": "1.500"}})
    assert evaluate(spec, {"Band": "big"}.get, ANCHOR) == 1.5  # written in YAML, not typed in a CRM
    with pytest.raises(BadValue, match="may be"):
        evaluate(spec, {"Band": "2.500"}.get, ANCHOR)


@pytest.mark.parametrize("bulk", [False, True], ids=["rest", "bulk"])
def test_salesforce_text_fields_are_read_as_people_write_numbers(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_org: FakeServer,  # noqa: F811
        tls_cert: tuple[Path, Path], bulk: bool) -> None:  # noqa: F811
    """A Text field's `250.000` is refused, its `1.250.000,50` read; a Currency field's value is
    a number, which Bulk API CSV sends as text (a deal's `123.456`): read as a machine writes it."""
    monkeypatch.setenv(ENV, TOKEN)
    add_field(fake_org.org, "Account", "Potenzial__c", "string")
    keys = [a for a in fake_org.org.objects["Account"] if a.get("Type") == "Key Account"]
    typed, german, ambiguous = keys[:3]
    typed["KAM_Potential__c"] = 123.456  # a Currency field
    german["Potenzial__c"] = "1.250.000,50"  # a Text field, as a German user typed it
    ambiguous["Potenzial__c"] = "250.000"
    mapping = (ROOT / "config" / "salesforce.mapping.yaml").read_text()
    old = "potential: {field: KAM_Potential__c, optional: true, convert: float}"
    assert old in mapping
    text = old.replace("KAM_Potential__c", "Potenzial__c")
    (tmp_path / "text.yaml").write_text(mapping.replace(old, text))
    (tmp_path / "comma.yaml").write_text(mapping.replace(old, text.replace("}", ", decimal: ','}")))
    threshold = {"bulk_threshold": 2000} if bulk else {}
    deal = next(o for o in fake_org.org.objects["Opportunity"] if o["AccountId"] == typed["Id"])
    deal["Amount"] = 123.456  # a Currency field
    for i in range(2000 if bulk else 0):  # past the threshold: deals come as Bulk API CSV
        fake_org.org.add("Opportunity", {**deal, "Id": f"006FILLER{i:06d}"})
    pulled = {}
    for name, extra in (("number", {}), ("text", {"mapping": "text.yaml"}),
                        ("comma", {"mapping": "comma.yaml"})):
        conn = salesforce.open_connector(sf_config(fake_org, tls_cert[0], incremental=False,
                                                   **threshold, **extra), tmp_path, tmp_path / name)
        pulled[name] = conn.pull(ANCHOR)
        conn.close()
    assert bool(fake_org.org.jobs) is bulk  # the accounts came as Bulk API CSV, or as JSON
    assert next(a.potential for a in pulled["number"].accounts if a.id == typed["Id"]) == 123.456
    assert next(d.amount for d in pulled["number"].deals if d.id == deal["Id"]) == 123.456
    potential = {a.id: a.potential for a in pulled["text"].accounts}
    assert potential[german["Id"]] == 1250000.5
    assert potential[ambiguous["Id"]] is None  # unknown, not 250
    [warning] = [w for w in pulled["text"].warnings if w.record_id == ambiguous["Id"]]
    assert "field potential" in warning.message and AMBIGUOUS in warning.message
    comma = {a.id: a.potential for a in pulled["comma"].accounts}  # the field's mark, as said
    assert comma[ambiguous["Id"]] == 250000.0 and comma[german["Id"]] == 1250000.5


def test_hubspot_reads_number_properties_as_a_machine_and_text_ones_as_people(
        demo_records: dict[str, list[dict[str, Any]]]) -> None:
    fake, url, ids = start_fake(demo_records, window=0.25, budget=40)
    try:
        fake.define_property("companies", "kam_potential_number", "number", "number")
        companies = [ids["accounts"][a["id"]] for a in demo_records["accounts"] if a.get("is_key")]
        machine, german, ambiguous, history = companies[:4]
        fake.update("companies", machine, {"kam_potential": "250.000"})
        fake.update("companies", german, {"kam_potential": "1.250.000,50"})
        fake.update("companies", ambiguous, {"kam_potential": "250.000"})
        fake.update("companies", history, {"kam_revenue_history": "2024:1.200.000;2025:250.000"})
        text = (ROOT / "config" / "hubspot.mapping.yaml").read_text()
        shipped = hubspot_connector(url, text).pull(ANCHOR)
        number = hubspot_connector(url, text.replace("  potential: kam_potential\n",
                                              "  potential: kam_potential_number\n"))
        fake.update("companies", machine, {"kam_potential_number": "250.000"})
        typed = number.pull(ANCHOR)
    finally:
        fake.stop()
    potential = {a.id: a.potential for a in shipped.accounts}
    assert potential[german] == 1250000.5 and potential[ambiguous] is None
    assert potential[machine] is None  # the same text in a text property
    assert next(a.potential for a in typed.accounts if a.id == machine) == 250.0
    warned = {w.record_id: w.message for w in shipped.warnings}
    assert "field potential" in warned[ambiguous] and AMBIGUOUS in warned[ambiguous]
    assert "2025:250.000" in warned[history] and AMBIGUOUS in warned[history]


def test_a_huge_value_makes_a_short_warning() -> None:
    """A bad value's reason quotes it: a megabyte of digits in a text field made a warning (and a
    run report, and a history row) of a megabyte."""
    from kamrules.connectors.mapping.tally import FieldTally

    huge = "1" + ".111" * 300_000
    with pytest.raises(BadValue) as failed:
        to_float(huge, ANCHOR, people=True)
    tally = FieldTally()
    tally.failed("accounts", "potential", "A1", huge, f"does not parse ({failed.value})", "Potenzial__c")
    [warning] = tally.warnings
    assert len(warning.message) < 2000 and "characters not shown" in warning.message
    assert warning.message.startswith("field potential (from Potenzial__c): value '1.111")


@pytest.mark.parametrize("read", [lambda v: to_date(v, ANCHOR), parse_date],
                         ids=["mapping", "hubspot"])
def test_dates_people_write_with_dots_are_read_day_first(read: Any) -> None:
    """`31.10.2026` in a CRM text field was "not a date" (the CSV import read it); one with
    slashes may be either way round and is refused naming why."""
    assert read("31.10.2026") == read("31.10.2026.") == read(" 2026-10-31 ") == date(2026, 10, 31)
    assert read("1.2.2026") == date(2026, 2, 1)
    with pytest.raises(BadValue, match="'10/11/2026' may be month or day first"):
        read("10/11/2026")
    with pytest.raises(BadValue, match="is not a date"):
        read("32.10.2026")
    assert written_date("n/a") == "n/a"


@pytest.mark.parametrize(("decimal", "text", "number"), [
    (",", "250.000", 250000.0), (",", "250,000", 250.0), (",", "1.250.000,50", 1250000.5),
    (",", "1 250,5", 1250.5), (".", "250.000", 250.0), (".", "250,000", 250000.0),
    (".", "1,250,000.50", 1250000.5), (",", "1e6", 1e6),
])
def test_a_fields_decimal_mark_settles_what_people_wrote(decimal: str, text: str, number: float) -> None:
    spec = Spec.model_validate({"field": "X", "convert": "float", "decimal": decimal})
    assert evaluate(spec, {"X": text}.get, ANCHOR) == number


def test_a_decimal_mark_refuses_the_other_and_is_for_numbers_only() -> None:
    """`12.5` where `,` marks the decimals is no number of that field's people; without the
    mark an ambiguous value says how to settle it."""
    for decimal, text in ((",", "12.5"), (",", "1,250,000.5"), (".", "12,5"), (".", "1.250.000,50")):
        spec = Spec.model_validate({"field": "X", "convert": "float", "decimal": decimal})
        with pytest.raises(BadValue, match="is not a number"):
            evaluate(spec, {"X": text}.get, ANCHOR)
    plain = Spec.model_validate({"field": "X", "convert": "int"})
    with pytest.raises(BadValue, match="or give the field in the mapping the decimal mark"):
        evaluate(plain, {"X": "250.000"}.get, ANCHOR)
    with pytest.raises(ValueError, match="decimal needs convert: float, int, revenue"):
        Spec.model_validate({"field": "X", "decimal": ","})


def test_an_ambiguous_revenue_entry_names_the_entry_and_how_to_settle_it() -> None:
    spec = Spec.model_validate({"field": "History__c", "convert": "revenue"})
    with pytest.raises(BadValue, match=r"revenue entry '2025:250.000': '250.000' may be 250000 or"
                                       r" 250.*or give the field in the mapping the decimal mark"):
        evaluate(spec, {"History__c": "2024:1.200.000;2025:250.000"}.get, ANCHOR)
    comma = Spec.model_validate({"field": "History__c", "convert": "revenue", "decimal": ","})
    assert evaluate(comma, {"History__c": "2024:1.200.000;2025:250.000"}.get, ANCHOR) == [
        {"year": 2024, "amount": 1200000.0}, {"year": 2025, "amount": 250000.0}]
