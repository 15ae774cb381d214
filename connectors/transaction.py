"""One transaction on a SQLite file of a connector (the local CRM, a record cache): committed
whole or rolled back whole.

SQLite rolls a transaction back by itself on some errors (a full disk): a ROLLBACK after it
raised "no transaction is active" in its place (exit 5, hiding the disk). Errors of the machine's
side (full, read-only, locked too long) are named with the file, exit 7.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator

from kamrules.inputs.environment import as_environment_failure, failure


@contextlib.contextmanager
def transaction(db: sqlite3.Connection, begin: str = "BEGIN", what: str = "local CRM") -> Iterator[None]:
    try:
        db.execute(begin)
        yield
        db.execute("COMMIT")
    except BaseException as exc:
        if db.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                db.execute("ROLLBACK")
        if isinstance(exc, sqlite3.Error) and as_environment_failure(exc) is not None:
            raise failure(what, _file(db), exc) from None
        raise


def _file(db: sqlite3.Connection) -> str:
    with contextlib.suppress(sqlite3.Error):
        for _, name, path in db.execute("PRAGMA database_list"):
            if name == "main" and path:
                return str(path)
    return "(its file)"
