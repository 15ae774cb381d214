"""Run history tells a run still going from one that ended without recording its end (killed, or
a full disk when its end was written): the latter showed as `running` for ever."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from kamrules.run.state import StateStore


def test_a_running_row_is_running_while_its_process_lives(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    live = store.start_run("2026-11-01T02:00:00+00:00", "2026-11-01", "run")
    gone = store.start_run("2026-11-02T02:00:00+00:00", "2026-11-02", "plan")
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                           capture_output=True, text=True, check=True)
    store.db.execute("UPDATE runs SET pid=? WHERE id=?", (int(child.stdout), gone))  # exited
    outcomes = {r["id"]: r["outcome"] for r in store.history()}
    assert outcomes == {live: "running", gone: "interrupted"}
    assert "pid" not in store.history()[0]
    store.close()


def test_a_state_file_of_before_gets_the_column_and_its_unfinished_runs_are_interrupted(
        tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "state.sqlite")
    db.executescript("""CREATE TABLE runs (id INTEGER PRIMARY KEY AUTOINCREMENT, started TEXT NOT
        NULL, finished TEXT, as_of TEXT NOT NULL, mode TEXT NOT NULL, outcome TEXT, exit_code
        INTEGER, counts TEXT, api_calls INTEGER, warnings INTEGER, report TEXT);
        INSERT INTO runs (started, as_of, mode, outcome) VALUES ('s', '2026-10-01', 'run', 'ok');
        INSERT INTO runs (started, as_of, mode, outcome) VALUES ('s', '2026-10-02', 'run', 'running');""")
    db.close()
    store = StateStore(tmp_path)
    new = store.start_run("s", "2026-10-03", "run")
    assert [(r["as_of"], r["outcome"]) for r in store.history()] == [
        ("2026-10-03", "running"), ("2026-10-02", "interrupted"), ("2026-10-01", "ok")]
    pid, runner = store.db.execute("SELECT pid, runner FROM runs WHERE id=?", (new,)).fetchone()
    assert pid == os.getpid() and json.loads(runner)["host"] == socket.gethostname()
    store.close()


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="boots and start times: Linux")
def test_a_run_of_another_machine_stays_running_and_a_pid_not_the_runs_is_not_it(
        tmp_path: Path) -> None:
    """A state folder on storage all workers mount (docs/scale.md): a run going on another
    machine showed `interrupted` here, its pid not alive on this one. A pid of before this
    machine restarted, or one another process has taken since, is not the run's."""
    store = StateStore(tmp_path)
    mine = store.start_run("s", "2026-11-01", "run")
    runner = json.loads(store.db.execute("SELECT runner FROM runs WHERE id=?", (mine,)).fetchone()[0])

    def row(as_of: str, pid: int, **changed: object) -> None:
        store.db.execute("INSERT INTO runs (started, as_of, mode, outcome, pid, runner)"
                         " VALUES ('s', ?, 'run', 'running', ?, ?)",
                         (as_of, pid, json.dumps({**runner, **changed})))

    dead = int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True, check=True).stdout)
    row("2026-11-02", dead, host="worker-2")  # not alive here: it runs there
    row("2026-11-03", os.getpid(), boot="a-boot-of-before")  # alive now, not since the restart
    row("2026-11-04", os.getpid(), start=runner["start"] + 1)  # this pid, another process
    row("2026-11-05", dead)
    assert [(r["as_of"], r["outcome"]) for r in store.history()] == [
        ("2026-11-05", "interrupted"), ("2026-11-04", "interrupted"), ("2026-11-03", "interrupted"),
        ("2026-11-02", "running"), ("2026-11-01", "running")]
    store.close()

