"""`import-csv --columns FILE`: an export with its own file names, headers and values (a Russian
CRM's export: `Компании.csv`, `Название`, `Встреча`) loads as it is written. Without it every
row was refused as lacking `name`, whatever the admin did short of renaming headers by hand."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from kamrules.connectors.local.crm import LocalCrm
from kamrules.connectors.local.csv_columns import load_columns
from kamrules.connectors.local.csv_import import import_directory
from kamrules.errors import ValidationFailed
from tests.conftest import Workspace

COMPANIES = ("ID;Название;Ответственный;Ключевой;Уровень;Регионы;name\n"
             "A1;Балтик Фудс;U1;да;Стратегический;Север;Юг;x\n"
             "A2;Север;U1;нет;обычный;;y\n").replace("Север;Юг", "\"Север;Юг\"")
ACTIVITIES = ("id,account_id,Тип,date,subject\n"
              "X1,A1,Встреча,01.11.2026,Первая встреча\n"
              "X2,A1,звонок,02.11.2026,Звонок\n"
              "X3,A1,Письмо,03.11.2026,?\n")
COLUMNS = """\
accounts:
  file: компании.csv            # any case, as file names are matched
  columns:
    id: ID
    name: Название
    owner_id: Ответственный
    is_key: Ключевой
    tier: {column: Уровень, values: {Стратегический: strategic, Обычный: standard}}
    regions: {column: Регионы, values: {Север: north, Юг: south}}
    industry: Отрасль
activities:
  columns:
    type: {column: Тип, values: {Встреча: meeting, Звонок: call}}
contacts:
  file: Контакты.csv
"""


def _export(root: Path, columns: str = COLUMNS) -> tuple[Path, Path]:
    export = root / "export"
    export.mkdir()
    (export / "Компании.csv").write_text(COMPANIES, encoding="utf-8")
    (export / "activities.csv").write_text(ACTIVITIES, encoding="utf-8")
    (root / "columns.yaml").write_text(columns, encoding="utf-8")
    return export, root / "columns.yaml"


def test_an_export_with_its_own_names_loads_through_a_columns_file(tmp_path: Path) -> None:
    export, columns = _export(tmp_path)
    crm = LocalCrm(tmp_path / "crm.sqlite")
    try:
        result = import_directory(crm, export, columns=load_columns(columns))
        accounts = crm.db.execute(
            "SELECT id, name, owner_id, is_key, tier, regions FROM accounts ORDER BY id").fetchall()
        activities = crm.db.execute("SELECT id, type FROM activities ORDER BY id").fetchall()
    finally:
        crm.close()
    assert accounts == [("A1", "Балтик Фудс", "U1", 1, "strategic", '["north","south"]'),
                        ("A2", "Север", "U1", 0, "standard", "[]")]
    # a value the map lacks is read as it is, and refused by the field at its line
    assert activities == [("X1", "meeting"), ("X2", "call")]
    problems = [p for f in result.files for p in f.problems]
    assert problems == [f"{export / 'activities.csv'}:4: type: Input should be 'meeting', 'call',"
                        " 'email', 'note' or 'gift'"]
    warnings = [w for f in result.files for w in f.warnings] + result.problems
    assert sorted(warnings) == sorted([
        f"{export / 'Компании.csv'}:1: column 'name' ignored: the columns file reads name from"
        " 'Название'",
        f"{export / 'Компании.csv'}:1: no column 'Отрасль', which the columns file names",
        f"{export}: no file 'Контакты.csv' (the columns file's contacts.file); no contacts loaded",
    ])


@pytest.mark.parametrize(("text", "line", "says"), [
    ("accounts:\n  columns:\n    nme: Название\n", 3,
     "accounts.columns.nme: unknown key 'nme'; valid keys: customer_since, id,"),
    ("acounts:\n  file: x.csv\n", 1, "(did you mean 'accounts'?)"),
    ("activities:\n  columns:\n    type: {column: Тип, values: {Звонок: cal}}\n", 3,
     "activities.columns.type.values.звонок: type takes meeting, call, email, note, gift,"
     " not 'cal' (did you mean 'call'?)"),
    ("accounts:\n  columns:\n    name: Имя\n    key_reason: имя\n", 4,
     "accounts.columns.key_reason: column 'имя' is read for 'name' already"),
    ("accounts:\n  columns:\n    name: ''\n", 3, "accounts.columns.name"),
    ("accounts:\n  file: Contacts.csv\n", 2, "accounts.file: 'Contacts.csv' is the contacts file"),
    ("contacts:\n  file: x.csv\naccounts:\n  file: X.csv\n", 2,
     "contacts.file: 'x.csv' is the accounts file already; one file holds one kind"),
    ("accounts:\n  file: exports/Компании.csv\n", 2,
     "accounts.file: 'exports/Компании.csv': give the file's name in the folder import-csv reads"),
    ("accounts:\n  columns:\n    name: {column: Имя, decimal: ','}\n", 3,
     "accounts.columns.name.decimal: accounts.name holds no number: decimal is for number columns"),
])
def test_a_mistake_in_the_columns_file_is_located(tmp_path: Path, text: str, line: int,
                                                   says: str) -> None:
    path = tmp_path / "columns.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValidationFailed) as caught:
        load_columns(path)
    shown = [str(p) for p in caught.value.problems]
    assert any(p.startswith(f"{path}:{line}:") and says in p for p in shown), shown


def test_a_header_yaml_reads_as_a_number_is_a_column_name(tmp_path: Path) -> None:
    path = tmp_path / "columns.yaml"
    path.write_text("surveys:\n  columns:\n    score: 2026\n    kind: {column: Вид, values:"
                    " {1: nps}}\n", encoding="utf-8")
    surveys = load_columns(path)["surveys"]
    assert surveys.field_of(" 2026 ") == "score"
    assert surveys.value("kind", "1") == "nps" and surveys.value("kind", "csat") == "csat"


def test_the_cli_loads_with_columns_and_refuses_a_bad_columns_file_before_loading(
        workspace_factory: Callable[..., Workspace]) -> None:
    ws = workspace_factory(None)
    export, columns = _export(ws.root)
    proc = ws.cli("import-csv", str(export), "--columns", str(columns), check=False)
    assert proc.returncode == 1, proc.stderr  # loaded; one activity row refused
    assert "accounts: 2 records loaded" in proc.stdout
    assert "activities: 2 records loaded, 1 rows refused" in proc.stdout
    assert ws.run_json()["accounts"] == 2
    columns.write_text("accounts:\n  columns:\n    nme: Название\n", encoding="utf-8")
    before = ws.crm().db.execute("SELECT COUNT(*) FROM activities").fetchone()
    proc = ws.cli("import-csv", str(export), "--columns", str(columns), check=False)
    assert proc.returncode == 2
    assert f"{columns}:3:5" in " ".join(proc.stderr.split())
    assert ws.crm().db.execute("SELECT COUNT(*) FROM activities").fetchone() == before


def test_a_columns_decimal_mark_reads_what_would_be_ambiguous(tmp_path: Path) -> None:
    """A German export writes every potential as `250.000`: each row was refused as ambiguous (250
    or 250,000?); the columns file may say which mark is the decimal one, for amounts too."""
    export = tmp_path / "export"
    export.mkdir()
    (export / "accounts.csv").write_text(
        "id;name;Potenzial;revenue\nA1;Acme;250.000;\"2025:1.200.000,50\"\nA2;Bolt;12,5;\n"
        "A3;Cora;12.5;\n", encoding="utf-8")
    plain = tmp_path / "plain.yaml"
    plain.write_text("accounts:\n  columns:\n    potential: Potenzial\n", encoding="utf-8")
    comma = tmp_path / "comma.yaml"
    comma.write_text("accounts:\n  columns:\n    potential: {column: Potenzial, decimal: ','}\n"
                     "    revenue: {column: revenue, decimal: ','}\n", encoding="utf-8")
    read = {}
    for name, columns in (("plain", plain), ("comma", comma)):
        crm = LocalCrm(tmp_path / f"{name}.sqlite")
        try:
            result = import_directory(crm, export, columns=load_columns(columns))
            read[name] = (dict(crm.db.execute("SELECT id, potential FROM accounts").fetchall()),
                          [p for f in result.files for p in f.problems])
            revenue = crm.db.execute("SELECT revenue FROM accounts WHERE id = 'A1'").fetchone()
        finally:
            crm.close()
    potentials, problems = read["plain"]
    assert "A1" not in potentials and any(":2: potential: '250.000' may be 250000 or 250" in p
                                          and "decimal" in p for p in problems), problems
    potentials, problems = read["comma"]
    assert potentials == {"A1": 250000.0, "A2": 12.5} and "1200000.5" in revenue[0]
    assert problems == [f"{export / 'accounts.csv'}:4: potential: '12.5' does not group thousands"
                        " by '.' in threes"]


def test_the_readme_columns_example_loads(tmp_path: Path) -> None:
    import re

    from tests.conftest import ROOT

    [block] = [b for b in re.findall(r"```yaml\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
               if "Компании.csv" in b]
    (tmp_path / "columns.yaml").write_text(block, encoding="utf-8")
    names = load_columns(tmp_path / "columns.yaml")
    assert names["accounts"].file == "Компании.csv" and names["accounts"].decimals == {"potential": ","}
