"""The input boundary, safe output, secret redaction, the state store and the local CRM's bad
rows, each tested directly (the CLI-level corpus is tests/test_hostile.py)."""

from __future__ import annotations

import base64
import json
import os
import random
import sqlite3
import subprocess
from datetime import date
from pathlib import Path
from urllib.parse import quote

import pytest

from kamrules.connectors.local.crm import LocalCrm
from kamrules.errors import EnvironmentFailure, Location, Problem, ValidationFailed
from kamrules.inputs.boundary import MAX_DEPTH, cap, load_yaml_file, parse_yaml, read_text
from kamrules.inputs.sanitize import cell, json_safe, one_line, terminal_safe
from kamrules.inputs.secrets import Secret, SecretRef, redact
from kamrules.run.state import StateStore
from kamrules.run.sync import RunReport
from tests.conftest import ROOT


def refused(text: str) -> str:
    with pytest.raises(ValidationFailed) as info:
        parse_yaml(text, "f.yaml")
    [problem] = info.value.problems
    return str(problem)


@pytest.mark.parametrize(("text", "where", "words"), [
    ("a: 2026-02-30\n", "f.yaml:1:4", "day is out of range"),
    ("a: !!int abc\n", "f.yaml:1:4", "cannot be read"),
    ("a: " + "9" * 5000 + "\n", "f.yaml:1:4", "cannot be read"),
    ("a: 9223372036854775808\n", "f.yaml:1:4", "too large"),
    ("a:\n  b: .inf\n", "f.yaml:2:6", "not a finite number"),
    ("a: [1, .NaN]\n", "f.yaml:1:8", "not a finite number"),
    ("a: !!python/name:os.system x\n", "f.yaml:1:4", "not supported"),
    ("a: &x [1, *x]\n", "f.yaml:1:11", "refers to itself"),
    ("a: " + "[" * (MAX_DEPTH + 5) + "]" * (MAX_DEPTH + 5), "f.yaml:1:", "deeper than"),
    ("a: 1\n---\nb: 2\n", "f.yaml:2:1", "invalid YAML"),
    # a value map of a checkbox: one key to YAML, as True == 1 (it said only "duplicate key")
    ("values: {true: x, 1: y}\n", "f.yaml:1:", "quote them to keep both as text"),
    ("values:\n  false: x\n  0: y\n", "f.yaml:3:", "quote them to keep both as text"),
    # a block copied with its anchor: YAML takes the second, ruamel only warned on stderr
    ("a: &x {b: 1}\nc: &x [2]\nd: *x\n", "f.yaml:2:4",
     "the anchor &x is defined again (first at line 1, column 4)"),
    ("a: &x 1\nb: [&x 2]\n", "f.yaml:2:5", "the anchor &x is defined again"),
])
def test_yaml_refusals_are_located(text: str, where: str, words: str) -> None:
    message = refused(text)
    assert message.startswith(where) and words in message


def test_alias_bomb_is_refused_by_expanded_size_at_once() -> None:
    lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for prev, name in zip("abcdefg", "bcdefgh", strict=True):
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 10) + "]")
    assert "aliases expand past" in refused("\n".join(lines))


def test_alias_depth_counts_what_it_expands_to() -> None:
    deep = "[" * 40 + "]" * 40
    wrapped = "[" * 30 + "*a" + "]" * 30
    assert "deeper than" in refused(f"a: &a {deep}\nb: {wrapped}\n")


def test_anchors_and_merges_still_work() -> None:
    data = parse_yaml("base: &b {x: 1, y: 2}\nc:\n  <<: *b\n  y: 3\nd: [*b, *b]\n", "f.yaml")
    assert dict(data["c"]) == {"x": 1, "y": 3}
    assert data["d"][1]["y"] == 2
    scalar = parse_yaml("threshold: &t 30\nother: *t\nboth: [*t, *t]\n", "f.yaml")
    assert (scalar["other"], list(scalar["both"])) == (30, [30, 30])


def test_files_that_are_not_regular_or_too_big_or_not_utf8(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    big = tmp_path / "big.yaml"
    big.write_text("x" * 300_000)
    latin = tmp_path / "latin.yaml"
    latin.write_bytes(b"a: 1\nb: caf\xe9\n")
    cases = {fifo: "not a regular file", tmp_path: "is a folder", big: "the limit is",
             tmp_path / "none.yaml": "no such file", latin: "not UTF-8"}
    for path, words in cases.items():
        with pytest.raises(ValidationFailed, match=words):
            read_text(path)
    with pytest.raises(ValidationFailed) as info:
        load_yaml_file(latin)
    assert str(info.value).startswith(f"{latin}:2:7:")
    bom = tmp_path / "bom.yaml"
    bom.write_bytes(b"\xef\xbb\xbfa: 1\n")
    assert load_yaml_file(bom) == {"a": 1}


def test_problems_are_capped_per_file_with_a_count() -> None:
    many = [Problem(Location("a.yaml", i, 1), "", "bad") for i in range(1, 121)]
    shown = cap([*many, Problem(Location("b.yaml", 1, 1), "", "bad")], limit=50)
    assert len(shown) == 52
    assert shown[50].message.startswith("... and 70 more") and shown[51].location.file == "b.yaml"


def test_terminal_safe_strips_escapes_controls_and_bidi() -> None:
    hostile = ("A\x1b[31mred\x1b[0m \x1b]0;title\x07B \x9b2J C \u202eevil\u202c "
               "D\x00\x08\x7f E\x1bP1$r\x1b\\F")
    assert terminal_safe(hostile) == "Ared B  C evil D EF"
    assert terminal_safe("line 1\nline 2\ttab") == "line 1\nline 2\ttab"
    # rich drops the BEL that ends an OSC; then only the introducer goes, the name stays
    assert terminal_safe("Bolt \x1b]0;title Ltd") == "Bolt title Ltd"
    assert one_line("a\nb\r\nc\td") == "a b c d"
    assert terminal_safe("Zoë – Ünïcode 日本") == "Zoë – Ünïcode 日本"


def test_cells_never_start_a_formula() -> None:
    for text in ("=cmd|' /C calc'!A0", "+1", "-2+3", "@SUM(A1)"):
        assert cell(text).startswith("'")
    assert cell("Acme") == "Acme"
    assert json.loads(json_safe(json.dumps("a\x9bb\u202ec", ensure_ascii=False))) == "a\x9bb\u202ec"
    assert "\x9b" not in json_safe('"a\x9bb"')


def test_redaction_catches_encoded_forms_and_never_parts_of_words() -> None:
    token = "pat-na1-s3cr3t/+="
    forms = [token, quote(token, safe=""), base64.b64encode(token.encode()).decode()]
    for form in forms:
        assert redact(f"server said: {form}!", [Secret(token)]) == "server said: ***!"
    assert redact("MaxRetryError", [Secret("x")]) == "MaxRetryError"
    assert redact("MaxRetryError: abcd", [Secret("abcd")]) == "MaxRetryError: ***"
    assert redact("xabcdx", [Secret("abcd")]) == "xabcdx"


def test_secret_from_env_is_stripped(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("KR_TOKEN", "  tok-123\n")
    assert SecretRef(env="KR_TOKEN").read(tmp_path).reveal() == "tok-123"


def test_corrupt_state_store_is_moved_aside(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "state.sqlite").write_bytes(b"this is no database" * 100)
    store = StateStore(tmp_path)
    assert store.moved_aside is not None and store.moved_aside.exists()
    assert store.history() == []
    assert "was corrupt" in capsys.readouterr().err
    store.close()


def test_damaged_run_rows_do_not_stop_history_or_reports(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    good = store.start_run("t", "2026-11-01", "run")
    store.finish_run(good, RunReport(mode="run", as_of=date(2026, 11, 1), started="t", finished="t",
                                     counts={"created": 1}))
    bad = store.start_run("t", "2026-11-01", "run")
    store.db.execute("UPDATE runs SET outcome='ok', counts='{x', report='[' WHERE id=?", (bad,))
    history = store.history()
    assert [r["counts"] for r in history] == [{}, {"created": 1}]
    assert [r["id"] for r in store.reports()] == [good]
    store.close()


def test_state_folder_that_is_a_file_is_named(tmp_path: Path) -> None:
    (tmp_path / "state").write_text("x")
    with pytest.raises(EnvironmentFailure, match="state folder .*state"):
        StateStore(tmp_path / "state")


def _insert(crm: LocalCrm, fp: str, **values: str) -> None:
    row = {"fingerprint": fp, "account_id": "A", "subject": "s", "body": "b",
           "priority": "normal", "status": "open", "evidence": "{}", **values}
    crm.db.execute(f"INSERT INTO tasks ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
                   tuple(row.values()))


def test_bad_task_rows_are_read_without_their_bad_values_or_left_alone(tmp_path: Path) -> None:
    crm = LocalCrm(tmp_path / "crm.sqlite")
    _insert(crm, "p/R1/A", priority="urgent", evidence="not json", due="2026-12-01")
    _insert(crm, "p/R2/A", status="someday")
    _insert(crm, "p/R3/A")
    tasks = {t.fingerprint: t for t in crm.list_tasks(date(2026, 1, 1))}
    assert set(tasks) == {"p/R1/A", "p/R3/A"}
    assert tasks["p/R1/A"].priority == "normal" and tasks["p/R1/A"].due == date(2026, 12, 1)
    messages = {w.record_id: w.message for w in crm.task_warnings}
    assert "read without them" in messages["1"]
    crm.all_tasks()
    assert "left alone" in " ".join(w.message for w in crm.task_warnings)


def test_duplicate_open_tasks_without_the_index_open_and_are_closed_to_one(tmp_path: Path) -> None:
    from kamrules.writeback.reconcile import Desired, Policy, Scope, reconcile

    crm = LocalCrm(tmp_path / "crm.sqlite")
    crm.db.execute("DROP INDEX one_open_task")
    for _ in range(3):
        _insert(crm, "p/R/A", created="2026-10-01")
    crm.close()
    crm = LocalCrm(tmp_path / "crm.sqlite")  # the index cannot be built yet: no IntegrityError
    existing = crm.list_tasks(date(2026, 1, 1))
    desired = [Desired(existing[0].model_copy(update={"crm_id": None}), "medium")]
    changes = reconcile(desired, existing, Scope({"A"}, {"p"}), lambda fp: Policy(), date(2026, 11, 1))
    assert sorted(c.action for c in changes) == ["close", "close", "keep"]
    crm.apply(changes)
    crm.close()
    crm = LocalCrm(tmp_path / "crm.sqlite")
    assert crm.db.execute("SELECT COUNT(*) FROM sqlite_master WHERE name='one_open_task'").fetchone()[0]
    crm.close()


def test_a_corrupt_local_crm_is_named_and_never_touched(tmp_path: Path) -> None:
    from kamrules.connectors.local.crm import LocalConfig
    from kamrules.connectors.local.seeding import open_local

    garbage = os.urandom(8192)
    (tmp_path / "crm.sqlite").write_bytes(garbage)
    with pytest.raises(EnvironmentFailure, match="never repairs"):
        open_local(LocalConfig(path="crm.sqlite"), tmp_path)
    assert (tmp_path / "crm.sqlite").read_bytes() == garbage


def test_seeding_is_all_or_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from kamrules.connectors.local import seeding
    from kamrules.connectors.local.crm import LocalConfig

    def boom(self: LocalCrm, by_kind: dict) -> None:
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(LocalCrm, "insert_all", boom)
    with pytest.raises(EnvironmentFailure, match="disk is full"):
        seeding.open_local(LocalConfig(path="crm.sqlite", demo_accounts=5), tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".crm.sqlite.seeding"]
    monkeypatch.undo()
    crm = seeding.open_local(LocalConfig(path="crm.sqlite", demo_accounts=5), tmp_path)
    assert crm.db.execute("SELECT COUNT(*) FROM accounts").fetchone()[0] == 5
    crm.close()


def test_corrupt_record_cache_is_moved_aside_and_rebuilt(tmp_path: Path) -> None:
    from kamrules.connectors.cache import RecordCache

    (tmp_path / "hubspot-cache.sqlite").write_bytes(b"junk" * 2000)
    cache = RecordCache(tmp_path / "hubspot-cache.sqlite")
    assert cache.db.execute("SELECT COUNT(*) FROM rows").fetchone()[0] == 0
    cache.close()
    assert list(tmp_path.glob("hubspot-cache.sqlite.corrupt-*"))


def test_the_shortcuts_of_terminal_safe_change_no_text() -> None:
    """Texts without controls skip the regular expressions: the result is what they give."""
    import random

    from kamrules.inputs import sanitize

    def reference(text: str, keep_newlines: bool) -> str:
        text = sanitize._CONTROLS.sub("", sanitize._SEQUENCES.sub("", text.replace("\r\n", "\n")))
        return text if keep_newlines else sanitize._LINE_BREAKS.sub(" ", text)

    alphabet = ["a", "Z", " ", "\t", "\n", "\r", "\x0b", "\x1b", "[", "3", "m", "\x9b", "\x07",
                "\u202e", "\u2028", "é", "=", "\x7f"]
    pick = random.Random(18)
    for _ in range(3000):
        text = "".join(pick.choice(alphabet) for _ in range(pick.randint(0, 12)))
        for keep in (True, False):
            assert terminal_safe(text, keep) == reference(text, keep), (text, keep)


def test_json_safe_bytes_escapes_what_json_safe_escapes() -> None:
    """`run --json` writes pydantic's UTF-8 bytes as they are (no text copy); the escapes are
    those of `json_safe`, on every character near the risky ranges' edges."""
    from kamrules.inputs.sanitize import json_safe_bytes

    edges = [0x7e, 0x7f, 0x80, 0x9f, 0xa0, 0xc2, 0xe2, 0x2027, 0x2028, 0x2029, 0x202a, 0x202e,
             0x202f, 0x2065, 0x2066, 0x2069, 0x206a, 0x80a8, 0xa8, 0x1f600, 0xe9]
    alphabet = [chr(c) for c in edges] + ["a", '"', "\\"]
    pick = random.Random(7)
    for _ in range(3000):
        text = "".join(pick.choice(alphabet) for _ in range(pick.randint(0, 10)))
        assert json_safe_bytes(text.encode()) == json_safe(text).encode(), repr(text)
    for c in range(0x3000):  # every character up to the last risky one, alone
        assert json_safe_bytes(chr(c).encode()) == json_safe(chr(c)).encode(), hex(c)


@pytest.mark.parametrize("binary", [True, False], ids=["stdout-with-buffer", "text-only-stdout"])
def test_the_json_report_is_written_whole_and_escaped(
        monkeypatch: pytest.MonkeyPatch, binary: bool) -> None:
    """`run --json` writes pydantic's bytes to stdout's buffer, or text where stdout has none."""
    import io

    from kamrules.cli.run_plan import echo_json

    report = RunReport(mode="run", as_of=date(2026, 11, 1), started="s", error="a\u202eb\x9bc")
    raw = io.BytesIO()
    stdout = io.TextIOWrapper(raw, encoding="utf-8") if binary else io.StringIO()
    monkeypatch.setattr("sys.stdout", stdout)
    print("before", flush=True)
    echo_json(report)
    written = raw.getvalue().decode() if binary else stdout.getvalue()
    assert written.startswith("before\n{") and written.endswith("}\n")
    assert "\\u202e" in written and "\u202e" not in written and "\x9b" not in written
    assert json.loads(written[len("before\n"):]) == json.loads(report.model_dump_json())


def _shape(value: object) -> object:
    """A loaded document as plain values with every position ruamel keeps (mappings' and
    lists' own, each key's and item's), and the Python type of each scalar."""
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    if isinstance(value, CommentedMap):
        return ("map", value.lc.line, value.lc.col, [
            (_shape(k), value.lc.data.get(k), _shape(v)) for k, v in value.items()])
    if isinstance(value, CommentedSeq):
        return ("seq", value.lc.line, value.lc.col, [
            (i, value.lc.data.get(i), _shape(v)) for i, v in enumerate(value)])
    return (type(value).__name__, repr(value))


YAML_FILES = [ROOT / p for p in subprocess.run(
    ["git", "ls-files", "*.yaml", "*.yml"], cwd=ROOT, capture_output=True, text=True,
    check=True).stdout.split()]


@pytest.mark.parametrize("text", [
    *(path.read_text(encoding="utf-8") for path in YAML_FILES),
    "%YAML 1.1\n---\na: yes\nb: 010\nc: 1:30\n",  # read as YAML 1.1 says, as the parser told it
    "%TAG !k! tag:yaml.org,2002:\n---\na: !k!str 5\n",
    "a: &x {b: 1}\nc: *x\nd: [1, 'two', 3.5, null, 2026-11-01, ~]\n",
], ids=[*(str(p.relative_to(ROOT)) for p in YAML_FILES), "yaml-1.1", "tag-directive", "shapes"])
def test_a_document_is_composed_from_the_scanned_events_as_from_a_new_parse(text: str) -> None:
    """The document is composed from the events the boundary's scan parsed (one parse, not
    two): the same values, types and positions as ruamel's own load."""
    from ruamel.yaml import YAML

    assert _shape(parse_yaml(text, "f.yaml")) == _shape(YAML(typ="rt").load(text))
