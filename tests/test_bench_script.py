"""bench/run stays runnable (its numbers live in bench/RESULTS.md, not in assertions)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_bench_run_help() -> None:
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "run"), "--help"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0
    assert "--quick" in proc.stdout and "--sizes" in proc.stdout
    assert "--million" in proc.stdout and "--workers" in proc.stdout


def test_bench_run_small_size_prints_a_table_row() -> None:
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "run"), "--sizes", "200",
                           "--workers", "2"], capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr
    header = next(line for line in proc.stdout.splitlines() if line.startswith("accounts |"))
    rows = [line for line in proc.stdout.splitlines() if line.startswith("200 |")]
    assert len(rows) == 1
    cells = dict(zip(header.split(" | "), rows[0].split(" | "), strict=True))
    # each stage beside its floor, measured in this run: numbers, not placeholders
    assert int(cells["rows"].replace(",", "")) > 200 * 5
    for column in ("sqlite s", "python s"):  # a millisecond or less at 200 accounts
        assert float(cells[column]) >= 0, column
    for column in ("pull s", "facts s", "facts floor s", "facts x", "run s", "cpu/wall"):
        assert float(cells[column]) > 0, column
    assert cells["workers"] == "2" and int(cells["tasks"].replace(",", "")) > 0
    # the floor is the median of three reads (before the stages, after them, after the run)
    note = next(line for line in proc.stdout.splitlines() if line.startswith("(`sqlite s`"))
    reads = [float(x) for x in note.split("200: ", 1)[1].rstrip(")").split(", ")]
    assert len(reads) == 3 and float(cells["sqlite s"]) == round(sorted(reads)[1], 3)
    # the run is the median of three first runs, each on its own copy of the CRM
    note = next(line for line in proc.stdout.splitlines() if line.startswith("(`run s`"))
    walls = [float(x) for x in note.split("200: ", 1)[1].rstrip(")").split(", ")]
    assert len(walls) == 3 and abs(float(cells["run s"]) - sorted(walls)[1]) <= 0.051


def _bench_module(path: Path, name: str):  # noqa: ANN202 - a script loaded as a module
    import importlib.util
    from importlib.machinery import SourceFileLoader

    loader = SourceFileLoader(name, str(path))
    spec = importlib.util.spec_from_loader(name, loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def test_bench_phases_times_a_run_phase_by_phase(tmp_path: Path) -> None:
    """bench/phases runs `kamrules run` in a folder and prints its phases in order, each with
    when it began and how long it took, adding up to the whole run; the run did write."""
    bench = _bench_module(ROOT / "bench" / "run", "bench_run_for_phases")
    bench.build(300, tmp_path)
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "phases"), str(tmp_path),
                           "--workers", "2"], capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr
    *lines, last = proc.stdout.splitlines()[1:]
    rows = [line.rsplit(maxsplit=2) for line in lines]
    whole = last.split()  # (the run) 0.000 SECONDS exit CODE
    assert whole[:2] == ["(the", "run)"] and whole[4:] == ["exit", "0"], last
    names = [r[0].strip() for r in rows]
    phases = [n for n in names if not n.startswith("(") and n != "start"]
    assert phases == ["portfolio context", "evaluation", "plays", "bundles", "reconcile",
                      "alert limits", "texts and writes", "plays overview", "run history",
                      "JSON out"]
    began = [float(r[1]) for r in rows]
    seconds = [float(r[2]) for r in rows]
    assert names[0] == "start" and began == sorted(began) and min(seconds) >= 0
    total = float(whole[3])
    # every line from the start to the end; gaps under 5 ms left out (at most one a phase)
    assert total - 0.005 * len(rows) <= sum(seconds) <= total + 0.003
    assert began[-1] + seconds[-1] == pytest.approx(total, abs=0.003)
    import sqlite3

    with sqlite3.connect(tmp_path / "crm.sqlite") as db:
        assert db.execute("SELECT COUNT(*) FROM tasks").fetchone()[0] > 0


def test_a_tree_runs_with_its_own_connectors_packs_and_config(tmp_path: Path) -> None:
    """`--before TREE` runs that tree's code: its `connectors/`, `rulesets/` and `config/` too,
    not an installed kamrules' (whose editable finder maps them whatever is on the path)."""
    bench = _bench_module(ROOT / "bench" / "run", "bench_run")
    tree = tmp_path / "tree"
    (tree / "kamrules").mkdir(parents=True)
    (tree / "kamrules" / "__init__.py").write_text("")
    for folder in ("connectors", "rulesets", "config"):
        (tree / folder).mkdir()
    (tree / "connectors" / "__init__.py").write_text("")
    (tree / "connectors" / "probe.py").write_text("HERE = 'tree'\n")
    probe = ("import kamrules.connectors.probe as p, kamrules._builtin as b, kamrules._config as c;"
             " print(p.HERE, p.__file__, list(b.__path__)[0], list(c.__path__)[0])")
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(tree), "KAMRULES_BENCH_TREE": str(tree)}
    done = subprocess.run([sys.executable, "-c", bench.TREE_IMPORTS + probe], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    here, module, packs, config = done.stdout.split()
    assert here == "tree" and module == str(tree / "connectors" / "probe.py")
    assert (packs, config) == (str(tree / "rulesets"), str(tree / "config"))
