"""The CSV import's reading of an export, beyond what the hostile corpus runs through the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest

from kamrules.connectors.local.crm import LocalCrm
from kamrules.connectors.local.csv_import import ImportResult, import_directory

ACCOUNTS = "id,name,is_key\nA1,Acme,true\nA2,Bolt,true\n"


def _import(tmp_path: Path, files: dict[str, str]) -> ImportResult:
    export = tmp_path / "export"
    export.mkdir(exist_ok=True)
    for name, text in files.items():
        (export / name).write_text(text, encoding="utf-8")
    crm = LocalCrm(tmp_path / "crm.sqlite")
    try:
        return import_directory(crm, export)
    finally:
        crm.close()


def _rows(tmp_path: Path, sql: str) -> list[tuple]:
    crm = LocalCrm(tmp_path / "crm.sqlite")
    try:
        return crm.db.execute(sql).fetchall()
    finally:
        crm.close()


def test_an_export_imported_again_replaces_the_records_without_ids_of_its_accounts(
        tmp_path: Path) -> None:
    _import(tmp_path, {"accounts.csv": ACCOUNTS, "surveys.csv": "account_id,date,score\n"
                       "A1,2026-01-01,9\nA1,2026-02-01,8\nA2,2026-01-05,7\n"})
    # the next week's export: a survey of A2 first, one of A1 gone; A2's rows shift A1's
    _import(tmp_path, {"surveys.csv": "account_id,date,score\n"
                       "A2,2026-03-01,2\nA2,2026-01-05,7\nA1,2026-02-01,8\n"})
    assert sorted(_rows(tmp_path, "SELECT account_id, date, score FROM surveys")) == [
        ("A1", "2026-02-01", 8.0), ("A2", "2026-01-05", 7.0), ("A2", "2026-03-01", 2.0)]
    counts = dict(_rows(tmp_path, "SELECT account_id, n FROM record_counts"))
    assert counts == {"A1": 1, "A2": 2}


def test_an_account_missing_from_a_file_keeps_its_records_of_that_kind(tmp_path: Path) -> None:
    _import(tmp_path, {"accounts.csv": ACCOUNTS, "team.csv": "account_id,user_id,role\n"
                       "A1,U1,account_manager\nA2,U2,account_manager\n"})
    _import(tmp_path, {"team.csv": "account_id,user_id,role\nA2,U3,service\n"})
    assert sorted(_rows(tmp_path, "SELECT account_id, user_id FROM team")) == [
        ("A1", "U1"), ("A2", "U3")]


def test_a_semicolon_or_tab_export_and_choices_written_with_spaces_are_read(
        tmp_path: Path) -> None:
    """A German or French Excel saves `;` (with a `sep=;` line when asked to): every row was
    refused as lacking its id and name, with no word of the delimiter; `Account Manager` did
    not match the choice `account_manager`."""
    result = _import(tmp_path, {
        "accounts.csv": "sep=;\nid;name;is_key;regions\nA1;Acme, Inc.;true;\"north;south\"\n",
        "team.csv": "account_id\tuser_id\trole\nA1\tU1\tAccount Manager\n"})
    assert [(f.path.name, f.loaded, f.problems) for f in result.files] == [
        ("accounts.csv", 1, []), ("team.csv", 1, [])]
    assert _rows(tmp_path, "SELECT id, name, regions FROM accounts") == [
        ("A1", "Acme, Inc.", '["north","south"]')]
    assert _rows(tmp_path, "SELECT role FROM team") == [("account_manager",)]


def test_an_export_is_written_in_batches_in_one_transaction(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An export is no longer held whole (an 11 MB file took 233 MB): records are written in
    batches, in one transaction, so a refusal late in the file still loads nothing, and a
    duplicate id in a later batch keeps the first or the last as asked."""
    from kamrules.connectors.local import csv_import

    monkeypatch.setattr(csv_import, "BATCH", 3)
    rows = "".join(f"A{i},Name {i},true\n" for i in range(10))
    refused = _import(tmp_path, {"accounts.csv": f"id,name,is_key\n{rows}A10,\"open quote\n"})
    assert refused.files[0].refused and refused.files[0].loaded == 0
    assert _rows(tmp_path, "SELECT COUNT(*) FROM accounts") == [(0,)]
    twice = f"id,name,is_key\n{rows}A1,Later,true\n"
    export = tmp_path / "export"
    (export / "accounts.csv").write_text(twice, encoding="utf-8")
    for keep, name in (("first", "Name 1"), ("last", "Later")):
        crm = LocalCrm(tmp_path / "crm.sqlite")
        try:
            result = csv_import.import_directory(crm, export, on_duplicate=keep)
        finally:
            crm.close()
        assert (result.files[0].loaded, result.files[0].refused_rows) == (10, 1)
        assert _rows(tmp_path, "SELECT name FROM accounts WHERE id = 'A1'") == [(name,)]
    assert _rows(tmp_path, "SELECT COUNT(*) FROM accounts") == [(10,)]


def test_day_first_dates_with_dots_are_read_and_slashed_ones_refused_saying_why(
        tmp_path: Path) -> None:
    """German, Russian and Serbian exports write 31.10.2019 (Serbian 31.10.2019.): every such
    row was refused as "invalid character in year". 10/11/2019 may be October or November: it
    is refused, saying so, and so is a day that does not exist."""
    result = _import(tmp_path, {"accounts.csv": (
        "id;name;customer_since\nA1;Acme;31.10.2019\nA2;Bolt;1.2.2020.\nA3;Cora;2021-03-04\n"
        "A4;Dune;10/11/2019\nA5;Eos;31.02.2019\nA6;Fox;\n")})
    assert _rows(tmp_path, "SELECT id, customer_since FROM accounts ORDER BY id") == [
        ("A1", "2019-10-31"), ("A2", "2020-02-01"), ("A3", "2021-03-04"), ("A6", None)]
    [accounts] = result.files
    assert accounts.loaded == 4
    assert len(accounts.problems) == 2
    slashed, impossible = accounts.problems
    assert "accounts.csv:5" in str(slashed) and "may be month or day first" in str(slashed)
    assert "accounts.csv:6" in str(impossible) and "customer_since" in str(impossible)


def test_an_export_not_in_utf8_is_refused_naming_the_code_page_it_is_likely_in(
        tmp_path: Path) -> None:
    """A Russian Excel saves cp1251: the hint named cp1252, which reads it as Latin gibberish
    without a word (every name wrong)."""
    export = tmp_path / "export"
    export.mkdir()
    for text, encoding, hint in (
            ("id,name\nA1,ООО Северсталь-Трейд\n", "cp1251", "--encoding cp1251"),
            ("id,name\nA1,Café Müller\nA2,Señor Ñandú\n", "cp1252", "--encoding cp1252")):
        (export / "accounts.csv").write_bytes(text.encode(encoding))
        crm = LocalCrm(tmp_path / "crm.sqlite")
        try:
            [accounts] = import_directory(crm, export).files
        finally:
            crm.close()
        assert accounts.loaded == 0 and hint in str(accounts.problems[0]), accounts.problems


def test_amounts_are_read_whichever_mark_groups_thousands_and_ambiguous_ones_refused(
        tmp_path: Path) -> None:
    """`1 250 000,50` (Russian), `1.250.000,50` (German, Serbian), `1,250,000.50`: every such row
    was refused; `250.000`, which a German export means as 250,000, was read as 250 without a
    word (a key account below the potential bar). One mark before exactly three digits may be
    either: refused, saying both readings."""
    result = _import(tmp_path, {"accounts.csv": (
        "id;name;potential;revenue\n"
        "A1;Acme;1 250 000,50;\"2024:1.200.000;2025:1,350,000.25\"\n"
        "A2;Bolt;1\u00a0500,5;2025:12,5\n"
        "A3;Cora;250.000;\n"
        "A4;Dune;380000;2025:1,500\n"
        "A5;Eos;0,125;\n"
        "A6;Fox;1234.567;\n")})
    assert _rows(tmp_path, "SELECT id, potential, revenue FROM accounts ORDER BY id") == [
        ("A1", 1250000.5, '[{"year":2024,"amount":1200000.0},{"year":2025,"amount":1350000.25}]'),
        ("A2", 1500.5, '[{"year":2025,"amount":12.5}]'),
        ("A5", 0.125, "[]"), ("A6", 1234.567, "[]")]
    [accounts] = result.files
    assert [str(p).split(": ", 1)[1] for p in accounts.problems] == [
        "potential: '250.000' may be 250000 or 250; write it without a thousands separator (or"
        " give the column its decimal mark in --columns: `decimal: \",\"` or `\".\"`)",
        "revenue '2025:1,500': '1,500' may be 1500 or 1.5; write it without a thousands separator"
        " (or give the column its decimal mark in --columns: `decimal: \",\"` or `\".\"`)"]


def test_yes_and_no_as_a_russian_serbian_or_german_excel_writes_them(tmp_path: Path) -> None:
    """Excel writes TRUE as ИСТИНА, TAČNO or WAHR in a CSV; people write да, ja: every such row
    was refused. A word that is neither is refused still."""
    result = _import(tmp_path, {"accounts.csv": (
        "id,name,is_key\nA1,Acme,ИСТИНА\nA2,Bolt,Да\nA3,Cora,NETAČNO\nA4,Dune,wahr\nA5,Eos,nein\n"
        "A6,Fox,true\nA7,Gaia,maybe\n")})
    assert _rows(tmp_path, "SELECT id, is_key FROM accounts ORDER BY id") == [
        ("A1", 1), ("A2", 1), ("A3", 0), ("A4", 1), ("A5", 0), ("A6", 1)]
    [accounts] = result.files
    assert len(accounts.problems) == 1 and "accounts.csv:8" in accounts.problems[0]
