"""A report's JSON made a batch of changes at a time (kamrules/report/streamed.py) is the very
bytes of the whole model's, on stdout (`--json`) and in the state store's run history."""

from __future__ import annotations

import json
import sqlite3
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from kamrules.cli.run_plan import echo_json
from kamrules.errors import EnvironmentFailure
from kamrules.inputs.sanitize import json_safe_bytes
from kamrules.model import RecordWarning
from kamrules.report import streamed
from kamrules.report.streamed import json_pieces
from kamrules.run.state import StateStore
from kamrules.run.sync import ChangeReport, RunReport

# text a CRM can hold: quotes, backslashes, newlines, terminal escapes, line separators, any
# script, and the very text of the key the pieces are spliced at
TEXT = st.one_of(st.text(max_size=12), st.sampled_from(['"changes": []', '"changes":[]', "\x1b[2J",
                                                          "\u2028", "й\n\"\\", "\x9b", ""]))


def _report(subjects: list[str], warning: str = "w") -> RunReport:
    report = RunReport(mode="run", as_of=date(2026, 11, 1), started="s", finished="f",
                       warnings=[RecordWarning(kind="accounts", record_id="A1", message=warning)])
    report.changes = [ChangeReport(action="create", fingerprint=f"kam-core/R{i}/ACC-{i}",
                                   account_id=f"ACC-{i}", subject=s, owner_id=None if i % 3 else s,
                                   severity="high", reason=s[::-1], account_name=s)
                      for i, s in enumerate(subjects)]
    return report


@settings(max_examples=120, deadline=None)
@given(subjects=st.lists(TEXT, max_size=14), warning=TEXT, batch=st.integers(1, 5),
       indent=st.sampled_from([None, 2, 4]))
def test_the_pieces_join_to_the_whole_models_json(subjects: list[str], warning: str, batch: int,
                                                  indent: int | None) -> None:
    report = _report(subjects, warning)
    whole = report.__pydantic_serializer__.to_json(report, indent=indent)
    pieces = list(json_pieces(report, indent=indent, batch=batch))
    assert b"".join(pieces) == whole
    # a long list is made in pieces, never whole: one per batch, the frame's two ends around them
    assert len(pieces) == (1 if len(subjects) <= batch else 2 + -(-len(subjects) // batch))


class _Inner(BaseModel):
    changes: list[int] = []


class _Outer(BaseModel):
    inner: _Inner
    changes: list[int]


@pytest.mark.parametrize("indent", [None, 2])
def test_a_nested_key_of_the_same_name_is_not_taken_for_the_list(indent: int | None) -> None:
    model = _Outer(inner=_Inner(), changes=list(range(7)))
    assert b"".join(json_pieces(model, indent=indent, batch=2)) == \
        model.__pydantic_serializer__.to_json(model, indent=indent)


def test_a_model_without_the_list_is_written_whole() -> None:
    warning = RecordWarning(kind="accounts", record_id="A1", message="m")
    assert list(json_pieces(warning, batch=1)) == [warning.__pydantic_serializer__.to_json(warning)]


def test_echo_json_writes_the_same_safe_bytes_in_pieces(monkeypatch, capfdbinary) -> None:
    report = _report(["first", "\x1b]0;title\x07", "\u2028split", "last\x9b"] * 3)
    monkeypatch.setattr(streamed, "BATCH", 5)
    echo_json(report)
    out = capfdbinary.readouterr().out
    assert out == json_safe_bytes(report.__pydantic_serializer__.to_json(report, indent=2)) + b"\n"
    assert b"\x1b" not in out and b"\xe2\x80\xa8" not in out
    assert json.loads(out)["changes"][1]["subject"] == "\x1b]0;title\x07"


@pytest.mark.parametrize(("kept_bytes", "made"), [(10**9, 1), (0, 2)])
def test_a_long_report_is_stored_in_pieces_and_read_back(tmp_path, monkeypatch, kept_bytes,
                                                         made) -> None:
    """Its pieces are made once when they fit in KEPT_BYTES, else counted, then made again as
    they are written: the same bytes either way."""
    from kamrules.run import state

    monkeypatch.setattr(streamed, "BATCH", 4)
    monkeypatch.setattr(state, "KEPT_BYTES", kept_bytes)
    calls = []
    monkeypatch.setattr(streamed, "json_pieces",
                        lambda *a, **k: calls.append(a[0]) or json_pieces(*a, **k))
    store = StateStore(tmp_path)
    long, short = _report([f"subject {i} й" for i in range(11)]), _report(["only"])
    ids = [store.start_run("s", "2026-11-01", "run") for _ in range(2)]
    store.finish_run(ids[0], long)
    store.finish_run(ids[1], short)
    rows = dict(store.db.execute("SELECT id, report FROM runs").fetchall())
    # the long one as its UTF-8 bytes, the short one as text: both the model's JSON exactly
    assert rows[ids[0]] == long.model_dump_json().encode()
    assert rows[ids[1]] == short.model_dump_json()
    assert calls.count(long) == made and calls.count(short) == 1
    assert [r["id"] for r in store.reports()] == ids
    assert store.reports()[0]["changes"] == json.loads(long.model_dump_json())["changes"]
    assert store.history()[0]["counts"] == long.counts
    store.close()


def test_a_failed_store_leaves_the_run_as_it_was(tmp_path, monkeypatch) -> None:
    """A write that fails halfway (a disk error on the second piece) is rolled back whole: the
    run stays `running` with no report, and the failure is named (not a bug)."""
    monkeypatch.setattr(streamed, "BATCH", 4)
    store = StateStore(tmp_path)
    run_id = store.start_run("s", "2026-11-01", "run")
    store.db = _Failing(store.db)
    with pytest.raises(EnvironmentFailure, match="state store.*input/output error"):
        store.finish_run(run_id, _report([f"s{i}" for i in range(9)]))
    row = store.db.execute("SELECT outcome, report FROM runs WHERE id=?", (run_id,)).fetchone()
    assert row == ("running", None)
    store.finish_run(run_id, _report(["again"]))  # the store is usable after it
    assert store.reports()[0]["changes"][0]["subject"] == "again"
    store.close()


class _Failing:
    """A connection whose incremental blobs fail on the second write."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __getattr__(self, name: str):  # noqa: ANN204
        return getattr(self._db, name)

    def blobopen(self, *args, **kwargs):  # noqa: ANN201
        blob = self._db.blobopen(*args, **kwargs)
        writes = {"n": 0}
        real_write = blob.write

        class Blob:
            def __enter__(self):  # noqa: ANN204
                blob.__enter__()
                return self

            def __exit__(self, *exc):  # noqa: ANN204
                return blob.__exit__(*exc)

            def write(self, data: bytes) -> None:
                writes["n"] += 1
                if writes["n"] == 2:
                    raise sqlite3.OperationalError("disk I/O error")
                real_write(data)

        return Blob()


def test_a_full_disk_while_storing_is_named_and_loses_nothing(tmp_path, monkeypatch) -> None:
    """SQLite's own "database or disk is full" in the middle of a long report (the file may not
    grow past its pages, as on a full disk): a located failure, the run row as it was, and the
    store usable once there is room."""
    monkeypatch.setattr(streamed, "BATCH", 50)
    store = StateStore(tmp_path)
    run_id = store.start_run("s", "2026-11-01", "run")
    pages = store.db.execute("PRAGMA page_count").fetchone()[0]
    store.db.execute(f"PRAGMA max_page_count = {pages + 3}")
    with pytest.raises(EnvironmentFailure, match="state store.*full"):
        store.finish_run(run_id, _report([f"subject {i} " * 20 for i in range(400)]))
    row = store.db.execute("SELECT outcome, report FROM runs WHERE id=?", (run_id,)).fetchone()
    assert row == ("running", None)
    store.db.execute("PRAGMA max_page_count = 1073741823")
    store.finish_run(run_id, _report([f"subject {i} " * 20 for i in range(400)]))
    assert len(store.reports()[0]["changes"]) == 400
    store.close()
