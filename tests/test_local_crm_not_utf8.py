"""Text that is not UTF-8, written into the local CRM's file by another tool, ends a run with
exit 7 and a message naming the column and the text, not exit 5 (SQLite refuses to decode it,
whichever read meets it first: the tasks, the records, or a worker process's chunk)."""

from __future__ import annotations

import sqlite3
from datetime import date

import pytest

from kamrules.errors import ExitCode
from kamrules.inputs.environment import as_environment_failure
from kamrules.run.config import load_config, load_configured_packs
from kamrules.run.sync import run
from tests.conftest import Workspace

BROKEN = "CAST(X'41ff43' AS TEXT)"  # 'A', a byte UTF-8 never has, 'C'


def _break(ws: Workspace, sql: str) -> None:
    db = sqlite3.connect(ws.crm_path)
    with db:
        db.execute(sql)
    db.close()


@pytest.mark.parametrize(("sql", "column"), [
    (f"UPDATE tasks SET account_id = {BROKEN} WHERE id = (SELECT MIN(id) FROM tasks)",
     "account_id"),
    (f"UPDATE tasks SET fingerprint = {BROKEN} WHERE id = (SELECT MAX(id) FROM tasks)",
     "fingerprint"),
    (f'UPDATE accounts SET name = {BROKEN} WHERE rowid = (SELECT MAX(rowid) FROM accounts)',
     "name"),
], ids=["task-account", "task-fingerprint", "account-name"])
def test_a_run_over_text_that_is_not_utf8_exits_7_naming_the_column(
        workspace: Workspace, sql: str, column: str) -> None:
    workspace.run_json()  # tasks to break
    _break(workspace, sql)
    proc = workspace.cli("run", "--as-of", "2026-12-20", check=False)
    assert proc.returncode == int(ExitCode.ENVIRONMENT), proc.stderr
    assert "not UTF-8" in proc.stderr and f"column '{column}'" in proc.stderr
    assert "bug in kamrules" not in proc.stderr


def test_a_planned_run_meets_it_in_a_worker_or_in_the_task_read(workspace: Workspace) -> None:
    """Chunks pulled by worker processes (and the accounts with play tasks read first)."""
    workspace.run_json()
    _break(workspace, f"UPDATE tasks SET account_id = {BROKEN} WHERE id = (SELECT MIN(id) FROM tasks)")
    _break(workspace, f"UPDATE contacts SET name = {BROKEN} WHERE rowid = (SELECT MAX(rowid) FROM contacts)")
    loaded = load_config(workspace.root / "kamrules.yaml")
    crm = workspace.crm()
    try:
        with pytest.raises(sqlite3.OperationalError) as raised:
            run(crm, load_configured_packs(loaded), loaded, date(2026, 12, 20), True,
                chunk_size=37, digest=False, workers=2)
    finally:
        crm.close()
    failure = as_environment_failure(raised.value)
    assert failure is not None and "not UTF-8" in str(failure) and "column '" in str(failure)
