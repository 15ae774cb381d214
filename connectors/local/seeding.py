"""Opening the local CRM, seeding a new one with the demo portfolio atomically and once.

Seeding writes a temporary database and renames it into place, under a lock file beside the
CRM, so a kill leaves no CRM or a complete one, and a `plan` and a `run` started together never
seed twice (a second seed replacing the file would orphan the first process's writes).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
from datetime import date
from pathlib import Path

from kamrules.connectors.local.crm import LocalConfig, LocalCrm
from kamrules.errors import EnvironmentFailure
from kamrules.inputs.environment import database_place, expand, failure, is_corrupt, reason
from kamrules.protocol.faults import checkpoint

SIDE_FILES = ("-wal", "-shm", "-journal")


def crm_path(config: LocalConfig, base_dir: Path) -> Path:
    path = expand(config.path, "crm.path")
    return path if path.is_absolute() else base_dir / path


def open_local(config: LocalConfig, base_dir: Path) -> LocalCrm:
    """The local CRM at the configured path, seeded first if it is new and `seed: demo`."""
    path = crm_path(config, base_dir)
    database_place(path, "local CRM", "set crm.path to a file")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if config.seed == "demo" and _needs_seed(path):
            _seed_once(path, config.demo_accounts)
        return LocalCrm(path)
    except sqlite3.DatabaseError as exc:
        if is_corrupt(exc):
            raise EnvironmentFailure(
                f"local CRM {path}: {reason(exc)}; kamrules never"
                " repairs a CRM: restore it from a backup, or move it away to start afresh"
            ) from None
        raise failure("local CRM", path, exc) from None
    except OSError as exc:
        raise failure("local CRM", path, exc) from None


def _needs_seed(path: Path) -> bool:
    if not path.exists() or path.stat().st_size == 0:
        return True
    crm = LocalCrm(path)
    try:
        return crm.is_empty()
    finally:
        crm.close()


def _seed_once(path: Path, accounts: int) -> None:
    """Under the seeding lock: seed if still needed, into a temporary file renamed into place."""
    from kamrules.connectors.local.demo import demo_portfolio

    lock_file = path.with_name(f".{path.name}.seeding")
    with lock_file.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # released by the kernel if this process dies
        if not _needs_seed(path):
            return  # another process seeded it while we waited
        records = demo_portfolio(date.today(), accounts)
        if path.exists() and path.stat().st_size > 0:
            crm = LocalCrm(path)  # an existing, empty CRM: one transaction, in place
            try:
                crm.insert_all(records)
            finally:
                crm.close()
            return
        for leftover in path.parent.glob(f".{path.name}.seed-*"):
            leftover.unlink(missing_ok=True)  # of a killed seeding; we hold the lock
        for suffix in SIDE_FILES:  # stale journals of a deleted CRM must not meet the new one
            Path(str(path) + suffix).unlink(missing_ok=True)
        tmp = path.with_name(f".{path.name}.seed-{os.getpid()}")
        try:
            crm = LocalCrm(tmp)
            try:
                checkpoint("seeding")
                crm.insert_all(records)
                checkpoint("seeded")
                crm.db.execute("PRAGMA journal_mode=DELETE")  # everything in the one file
            finally:
                crm.close()
            for suffix in SIDE_FILES:
                Path(str(tmp) + suffix).unlink(missing_ok=True)
            os.replace(tmp, path)
        except BaseException:
            for leftover in (tmp, *(Path(str(tmp) + suffix) for suffix in SIDE_FILES)):
                with contextlib.suppress(OSError):
                    leftover.unlink(missing_ok=True)
            raise
        with contextlib.suppress(OSError):  # make the rename durable
            fd = os.open(path.parent, os.O_RDONLY)
            os.fsync(fd)
            os.close(fd)
