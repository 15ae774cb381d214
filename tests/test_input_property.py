"""Property tests over files people write and export: configs, CRM mappings and CSV files,
each mutated at random (bytes inserted, deleted, replaced by YAML/CSV syntax and junk).

Whatever the mutation, loading ends in a value or a located KamError (exit 2), never another
exception; a CSV import never raises, and every row is loaded or reported.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kamrules.errors import KamError, ValidationFailed

CONFIGS = Path(__file__).resolve().parent.parent / "config"
SPECIAL = [b"*", b"&a ", b"!!int ", b"!x ", b"{", b"[", b"]", b"}", b":", b"- ", b"\n", b"  ",
           b"'", b'"', b"#", b"\x00", b"\xff", b"\xe9", b"\x1b[2J", b".inf", b".nan", b"1e999",
           b"2026-02-30", b"9" * 30, b"<<: *a", b"---\n", b"%YAML 1.1\n", b"\t", b",", b"\r\n"]
MUTATION = st.tuples(st.sampled_from(["insert", "delete", "replace"]), st.floats(0, 1),
                     st.sampled_from(SPECIAL) | st.binary(min_size=1, max_size=4))


def mutate(data: bytes, edits: list[tuple[str, float, bytes]]) -> bytes:
    for action, where, junk in edits:
        at = int(where * len(data))
        if action == "insert":
            data = data[:at] + junk + data[at:]
        elif action == "delete":
            data = data[:at] + data[at + len(junk):]
        else:
            data = data[:at] + junk + data[at + len(junk):]
    return data


def _written(data: bytes, name: str) -> Path:
    folder = Path(tempfile.mkdtemp(prefix="kr-prop-"))
    (folder / name).write_bytes(data)
    return folder / name


SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(st.sampled_from(sorted(p.name for p in CONFIGS.glob("*.example.yaml"))),
       st.lists(MUTATION, min_size=1, max_size=6))
def test_mutated_configs_load_or_fail_located(name: str, edits: list) -> None:
    from kamrules.run.config import load_config

    path = _written(mutate((CONFIGS / name).read_bytes(), edits), "kamrules.yaml")
    try:
        load_config(path)
    except ValidationFailed as exc:
        assert exc.problems and all(p.location.file == str(path) for p in exc.problems)


@SETTINGS
@given(st.lists(MUTATION, min_size=1, max_size=6))
def test_mutated_hubspot_mappings_load_or_fail_located(edits: list) -> None:
    from kamrules.connectors.hubspot.config import load_mapping

    path = _written(mutate((CONFIGS / "hubspot.mapping.yaml").read_bytes(), edits), "m.yaml")
    try:
        load_mapping(str(path), path.parent)
    except ValidationFailed as exc:
        assert all(p.location.file == str(path) for p in exc.problems)


@SETTINGS
@given(st.lists(MUTATION, min_size=1, max_size=6))
def test_mutated_salesforce_mappings_load_or_fail(edits: list) -> None:
    from kamrules.connectors.salesforce.mapping import load_mapping

    path = _written(mutate((CONFIGS / "salesforce.mapping.yaml").read_bytes(), edits), "m.yaml")
    try:
        load_mapping(path)
    except KamError as exc:
        assert exc.exit_code == 2 and str(exc)


ACCOUNTS = (b"id,name,owner_id,is_key,regions,revenue,customer_since\n"
            b"A1,Acme Steel,U1,true,north;south,2024:900000;2025:1200000,2019-05-01\n"
            b'A2,"Bolt, Ltd",U2,false,,,\n'
            b"A3,Cee,U1,TRUE,east,,2020-01-01\n")


@SETTINGS
@given(st.lists(MUTATION, min_size=1, max_size=6))
def test_mutated_csv_exports_never_stop_the_import(edits: list) -> None:
    from kamrules.connectors.local.crm import LocalCrm
    from kamrules.connectors.local.csv_import import import_directory

    path = _written(mutate(ACCOUNTS, edits), "accounts.csv")
    (path.parent / "users.csv").write_text("id,name\nU1,Ann\nU2,Bo\n")
    crm = LocalCrm(path.parent / "crm.sqlite")
    try:
        result = import_directory(crm, path.parent)
        stored = crm.db.execute("SELECT (SELECT COUNT(*) FROM accounts) + (SELECT COUNT(*)"
                                " FROM records_unreadable WHERE kind='accounts')").fetchone()[0]
    finally:
        crm.close()
    accounts = next(f for f in result.files if f.kind == "accounts")
    users = next(f for f in result.files if f.kind == "users")
    assert users.loaded == 2  # one bad file never stops another
    assert stored == accounts.loaded
    if accounts.refused:
        assert accounts.loaded == 0 and accounts.problems
    for message in accounts.problems:
        assert message.startswith(str(path))
