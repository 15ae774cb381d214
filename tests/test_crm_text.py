"""Text that is not Unicode, from every place it can come: a CRM's JSON (`"\\ud800"`, valid JSON
Salesforce and HubSpot return as their users pasted it), bytes that are not UTF-8, a YAML escape,
`--set`, the local CRM edited by hand. Each is made U+FFFD and counted, or refused where it is;
never exit 5 (durable_rules, SQLite and every encoder refuse half a character). And a CRM's
answer that is not JSON at all."""

from __future__ import annotations

import copy
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kamrules.connectors.crm_json import BadJson, CrmJson
from kamrules.connectors.local.schema import stored_json
from kamrules.errors import ValidationFailed
from kamrules.inputs.boundary import parse_yaml
from kamrules.protocol.marker import read_marker
from kamrules.run.whatif import parse_set
from tests.conftest import make_workspace
from tests.support.hubspot_workspace import HsWorkspace, start_fake
from tests.support.salesforce import FakeServer
from tests.support.salesforce_workspace import ENV, TOKEN, new_org, sf_workspace, tls_cert  # noqa: F401

HALVES = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)
TEXT = st.text(st.one_of(st.characters(codec="utf-8"), HALVES), max_size=12)
VALUES = st.recursive(st.none() | st.booleans() | st.integers() | TEXT,
                      lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(TEXT, inner, max_size=4), max_leaves=20)


def _expected(value: Any) -> tuple[Any, int]:
    """`value` with each half of a pair made U+FFFD, and how many (as json.dumps splits them)."""
    if isinstance(value, str):
        text = json.loads(json.dumps(value))  # json joins an adjacent high + low half into one
        cleaned = "".join("\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c for c in text)
        return cleaned, sum(1 for c in text if 0xD800 <= ord(c) <= 0xDFFF)
    if isinstance(value, list):
        parts = [_expected(v) for v in value]
        return [p for p, _ in parts], sum(n for _, n in parts)
    if isinstance(value, dict):
        out, count = {}, 0
        for k, v in value.items():
            (key, a), (item, b) = _expected(k), _expected(v)
            out[key], count = item, count + a + b
        return out, count
    return value, 0


@settings(max_examples=300, deadline=None)
@given(VALUES)
def test_every_json_value_decodes_to_unicode_and_counts(value: Any) -> None:
    encoded = json.dumps(value)  # ASCII: each half is a \\udxxx escape, as a CRM sends it
    decoder = CrmJson()
    got = decoder.loads(encoded.encode())
    want, count = _expected(value)
    if isinstance(value, dict) and len(want) < len(value):
        count = decoder.replaced  # two keys that became the same: the last one wins either way
    assert got == want
    assert decoder.replaced == count
    json.dumps(got, ensure_ascii=False).encode("utf-8")  # encodable: no half left


def test_pairs_kept_bytes_not_utf8_replaced_and_not_json_refused() -> None:
    decoder = CrmJson()
    assert decoder.loads(b'{"name": "\\ud83d\\ude00 Acme"}') == {"name": "\U0001f600 Acme"}
    assert decoder.replaced == 0
    assert decoder.loads(b'{"name": "Caf\xe9 \xed\xa0\x80"}') == {"name": "Caf\ufffd \ufffd\ufffd\ufffd"}
    assert decoder.replaced == 4  # each byte that is not UTF-8
    assert decoder.text(b"Id,Name\n1,J\xe9r\xf4me\n") == "Id,Name\n1,J\ufffdr\ufffdme\n"
    assert decoder.replaced == 6
    assert "6 character(s) in Salesforce's answers" in (decoder.warning("Salesforce") or "")
    assert CrmJson().warning("HubSpot") is None
    for bad in (b"<html>502 Bad Gateway</html>", b'{"a": ', b"[" * 100_000 + b"]" * 100_000):
        with pytest.raises(BadJson):
            decoder.loads(bad)


def _renamed(records: dict[str, list[dict[str, Any]]], name: str) -> dict[str, list[dict[str, Any]]]:
    out = copy.deepcopy(records)
    account = next(a for a in out["accounts"] if a["id"] == "ACC-000002")
    account["name"] = name
    return out


@pytest.mark.usefixtures("tls_cert")
def test_salesforce_text_not_unicode_is_replaced_and_reported(
        tmp_path: Path, demo_records: dict[str, list[dict[str, Any]]],
        tls_cert: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    monkeypatch.setenv(ENV, TOKEN)
    records = _renamed(demo_records, "Baltic \ud800Foods\udfff")
    with FakeServer(new_org(records), *tls_cert) as server:
        ws = sf_workspace(tmp_path / "ws", server, tls_cert[0])
        proc = ws.cli("run", "--as-of", "2026-11-01", "--json", check=False)
        assert proc.returncode == 0, proc.stderr[-2000:]
        report = json.loads(proc.stdout)
        subjects = [t["Subject"] for t in server.org.tasks()]
    assert any("Baltic \ufffdFoods\ufffd" in s for s in subjects), subjects[:5]
    notes = [w["message"] for w in report["warnings"]]
    assert any(m.startswith("2 character(s) in Salesforce's answers") for m in notes), notes


def test_hubspot_text_not_unicode_is_replaced_and_reported(
        tmp_path: Path, demo_records: dict[str, list[dict[str, Any]]]) -> None:
    fake, url, _ = start_fake(_renamed(demo_records, "Baltic \udc00Foods"), window=1.0)
    try:
        ws = HsWorkspace(tmp_path / "hs", fake, url)
        ws.write_config()
        code, report = ws.run_json()
        subjects = [t["properties"]["hs_task_subject"] for t in fake.tasks()]
    finally:
        fake.stop()
    assert code == 0, report.get("error")
    assert any("Baltic \ufffdFoods" in s for s in subjects), subjects[:5]
    notes = [w["message"] for w in report["warnings"] if w["kind"] == "hubspot answers"]
    assert notes and notes[0].startswith("1 character(s) in HubSpot's answers"), report["warnings"]


def test_yaml_escape_of_half_a_pair_is_a_located_error() -> None:
    with pytest.raises(ValidationFailed) as half:
        parse_yaml('id: mini\nname: "x\\ud800"\n', "pack.yaml")
    assert str(half.value).startswith("pack.yaml:2:7: \\ud800 is half of a UTF-16 pair")
    with pytest.raises(ValidationFailed) as pair:
        parse_yaml('name: "\\ud83d\\ude00"\n', "pack.yaml")
    assert "write the character itself or \\U0001f600" in str(pair.value)
    assert parse_yaml('name: "\\U0001F600"\n', "pack.yaml") == {"name": "\U0001f600"}


def test_set_with_half_a_pair_is_refused() -> None:
    for item in ('kam-core.label="\\ud800"', "kam-core.label=x\udcff"):  # an escape; argv's byte
        with pytest.raises(ValidationFailed) as refused:
            parse_set([item])
        assert "half of a UTF-16 pair" in str(refused.value)
    assert parse_set(['kam-core.label="\\u00e9"']) == {"kam-core": {"label": "\u00e9"}}


def test_local_crm_edited_into_half_a_pair_skips_the_record_with_a_warning(
        tmp_path: Path, demo_records: dict[str, list[dict[str, Any]]]) -> None:
    with pytest.raises(ValueError):
        stored_json('["\\ud800"]')
    assert stored_json('["\\ud83d\\ude00"]') == ["\U0001f600"]
    ws = make_workspace(tmp_path / "ws", demo_records)
    db = sqlite3.connect(ws.root / "crm.sqlite")
    db.execute("""UPDATE accounts SET regions = '["\\ud800"]' WHERE key = 'ACC-000002'""")
    db.commit()
    db.close()
    proc = ws.cli("plan", "--as-of", "2026-11-01", "--json", check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    warnings = json.loads(proc.stdout)["warnings"]
    assert {"kind": "accounts", "record_id": "ACC-000002"}.items() <= warnings[0].items(), warnings


def test_salesforce_answer_not_json_is_asked_again_then_a_crm_error_or_an_ambiguous_create(
        tmp_path: Path, demo_records: dict[str, list[dict[str, Any]]],
        tls_cert: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    """A proxy's HTML page answered with 200: a query is asked again (4 tries here), then stops
    the run (exit 4, said so) with nothing written, as an answer without records does; a create
    answered so may have been carried out, so it is read back, then sent again: each task once."""
    monkeypatch.setenv(ENV, TOKEN)
    page = "<html>upstream reset</html>"
    with FakeServer(new_org(demo_records), *tls_cert) as server:
        ws = sf_workspace(tmp_path / "ws", server, tls_cert[0])
        server.org.fail_next("query", 200, page, times=4)
        proc = ws.cli("run", "--as-of", "2026-11-01", check=False)
        assert proc.returncode == 4, proc.stderr[-2000:]
        assert "Salesforce answered 200 with a body that is not JSON" in proc.stderr
        assert not server.org.tasks() and not server.org.faults
        server.org.fail_next("query", 200, {"done": True, "totalSize": 0})  # JSON, yet no records
        proc = ws.cli("run", "--as-of", "2026-11-01", check=False)
        assert proc.returncode == 4, proc.stderr[-2000:]
        assert "Salesforce answered without records (done, totalSize)" in proc.stderr
        server.org.fail_next("query", 200, page, times=3)
        server.org.fail_next("write", 200, page)
        proc = ws.cli("run", "--as-of", "2026-11-01", "--json", check=False)
        assert proc.returncode == 0, proc.stderr[-2000:]
        report = json.loads(proc.stdout)
        fingerprints = [read_marker(t["Description"])[0] for t in server.org.tasks()]
        assert not server.org.faults
    assert report["counts"]["created"] == len(fingerprints) > 100
    assert len(set(fingerprints)) == len(fingerprints)  # each task once


def test_hubspot_answer_not_json_is_asked_again_never_read_as_empty(
        tmp_path: Path, demo_records: dict[str, list[dict[str, Any]]]) -> None:
    """Read as an empty answer, one association page that was a proxy's HTML made a run create
    187 tasks and close 5 on the demo: it is asked again (3 tries here), as is an empty answer,
    then the run stops (exit 4) with nothing written; so does JSON without its `results`; a
    batch create answered so is read back, never repeated."""
    fake, url, _ = start_fake(demo_records, window=1.0)
    page = "<html>upstream reset</html>"
    try:
        ws = HsWorkspace(tmp_path / "hs", fake, url)
        ws.write_config()
        fake.failures = [("POST /crm/v3/objects/tasks/batch/create", 200, page)]
        code, first = ws.run_json()
        assert code == 0 and not fake.failures, first.get("error")
        created = first["counts"]["created"]
        fingerprints = [read_marker(t["properties"]["hs_task_body"])[0] for t in fake.tasks()]
        assert len(fingerprints) == len(set(fingerprints)) == created > 100
        fake.failures = [("POST /crm/v4/associations", 200, page), ("GET /crm/v3/owners", 200, "")]
        code, again = ws.run_json()
        assert code == 0 and not fake.failures, again.get("error")
        assert again["counts"]["kept"] == created
        assert again["counts"]["created"] == again["counts"]["closed"] == 0
        fake.failures = [("POST /crm/v4/associations", 200, page)] * 3
        proc = ws.cli("run", "--as-of", "2026-11-01")
        assert proc.returncode == 4, proc.stderr[-2000:]
        assert "after 3 tries (an answer that is not JSON" in proc.stderr
        # JSON without the results it must have: HubSpot failing, not a portal without companies
        fake.failures = [("POST /crm/v3/objects/companies/search", 200, {"status": "COMPLETE"})]
        proc = ws.cli("run", "--as-of", "2026-11-01")
        assert proc.returncode == 4, proc.stderr[-2000:]
        assert "answered a read of companies search without its results (status)" in proc.stderr
        assert len(fake.tasks()) == created
        assert all(t["properties"]["hs_task_status"] == "NOT_STARTED" for t in fake.tasks())
    finally:
        fake.stop()
