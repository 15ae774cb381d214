"""The local CRM's records: written typed (one table per kind), read back whole or in chunks.

A record is validated once, when it is written: a valid one goes to its kind's table, whose
constraints keep it valid, so reading builds models without validating again; one that does
not validate is kept as written in `records_unreadable` and reported at every pull.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Iterable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from kamrules.connectors.local.collector import Held, no_gc
from kamrules.connectors.local.counts import RELATED, RELATED_UNREADABLE, related_counts
from kamrules.connectors.local.keyed import forget, keyed, write
from kamrules.connectors.local.schema import TABLES, Table, brief
from kamrules.connectors.local.spans import ChunkSpan, planned
from kamrules.connectors.local.summaries import account_summaries, context_split
from kamrules.connectors.local.tallies import plan_tally, tally
from kamrules.connectors.transaction import transaction
from kamrules.model import RECORD_KINDS, Account, FieldStat, RecordWarning, Snapshot, merge_stats
from kamrules.protocol.connector import AccountSummary, ChunkPlan, Progress, no_progress


class RecordStore:
    """The record half of the local CRM (LocalCrm adds tasks and account fields)."""

    db: sqlite3.Connection

    def is_empty(self) -> bool:
        return not any(self.db.execute(f'SELECT 1 FROM "{k}" LIMIT 1').fetchone() for k in TABLES) \
            and self.db.execute("SELECT 1 FROM records_unreadable LIMIT 1").fetchone() is None

    def record_count(self) -> int:
        """Records stored, readable or not (what `SELECT COUNT(*) FROM records` was)."""
        return sum(self._count(k) for k in TABLES) + self._count("records_unreadable")

    def insert_records(self, kind: str, records: Iterable[dict[str, Any]], replace: bool = True) -> int:
        return self.insert_all({kind: records}, replace)[kind]

    def insert_all(self, by_kind: dict[str, Iterable[dict[str, Any]]],
                   replace: bool = True) -> dict[str, int]:
        """Records of several kinds in one transaction: all of them or none."""
        counts: dict[str, int] = {}
        with transaction(self.db):
            for kind, records in by_kind.items():
                items = keyed(kind, records)
                write(self.db, kind, items, replace)
                counts[kind] = len(items)
        return counts

    def insert_batches(self, kind: str, batches: Iterable[list[dict[str, Any]]]) -> int:
        """One kind's records, batch by batch, in one transaction (all or none: the batches'
        iterator may raise to refuse them all), so a big export is never held whole. Later
        records replace earlier ones of the same key; a kind without ids keeps, of each account
        the batches name, only what they hold (see `forget`). The rows written."""
        count, forgotten = 0, set()
        with transaction(self.db):
            for batch in batches:
                items = keyed(kind, batch, start=count)
                named = {account for _, account, _ in items} - forgotten
                forget(self.db, kind, named)
                forgotten |= named
                write(self.db, kind, items, replace=True)
                count += len(items)
        return count

    # --- reading ---------------------------------------------------------------------------

    def _rows(self, table: Table, where: str = "", args: tuple[Any, ...] = (),
              order: str = '"key"') -> Iterable[tuple[Any, ...]]:
        return self.db.execute(
            f'SELECT {table.read} FROM "{table.kind}" {where} ORDER BY {order}', args)

    def _built(self, table: Table, rows: Iterable[tuple[Any, ...]],
               warnings: list[RecordWarning], members: set[str] | None = None) -> list[Any]:
        """Records of stored rows; a row edited by hand past the constraints is reported."""
        out: list[Any] = []
        table.build_rows(rows, out.append,
                         lambda row, exc: self._salvaged(table, row, exc, warnings))
        if members is not None and table.account_column == "account_id":
            out = [r for r in out if r.account_id in members]
        return out

    @staticmethod
    def _salvaged(table: Table, row: tuple[Any, ...], exc: Exception,
                  warnings: list[RecordWarning]) -> Any:
        try:
            return table.model.model_validate(table.as_dict(table.values_of(row)))
        except ValidationError as invalid:
            message = brief(invalid)
        except (ValueError, TypeError) as other:
            message = str(other) or str(exc)
        warnings.append(RecordWarning(kind=table.kind, record_id=str(table.key_of(row)), message=message))
        return None

    def _unreadable(self, kind: str, warnings: list[RecordWarning], where: str = "",
                    args: tuple[Any, ...] = (), members: set[str] | None = None
                    ) -> list[tuple[str, str | None]]:
        """A warning for each record of `kind` kept in `records_unreadable`; their (id, account)."""
        model = RECORD_KINDS[kind]
        found: list[tuple[str, str | None]] = []
        for rid, account, data in self.db.execute(
                "SELECT id, account_id, data FROM records_unreadable WHERE kind = ?"
                f" {where} ORDER BY account_id, rowid", (kind, *args)):
            if members is not None and kind != "accounts" and account not in members:
                continue
            try:
                model.model_validate_json(data)
                message = "kept in records_unreadable (written when it did not validate)"
            except ValidationError as exc:
                message = brief(exc)
            warnings.append(RecordWarning(kind=kind, record_id=rid, message=message))
            found.append((rid, account))
        return found

    def _read(self, table: Table, rows: Iterable[tuple[Any, ...]], warnings: list[RecordWarning],
              stats: dict[str, FieldStat], members: set[str] | None = None,
              known: set[str] | None = None) -> list[Any]:
        """`_built`, with what it read and skipped tallied in `stats` (kept unreadable: apart);
        with `known` (every account key), a record of another account counts as skipped."""
        before = len(warnings)
        records = self._built(table, rows, warnings, members)
        lost = [str(getattr(r, "id", None) or r.account_id) for r in records
                if r.account_id not in known] if known is not None else []
        tally(stats, table.kind, len(records) - len(lost), [w.record_id for w in warnings[before:]] + lost)
        return records

    def pull(self, as_of: date, progress: Progress = no_progress) -> Snapshot:
        """Every record; a record that does not validate is skipped with a warning."""
        warnings: list[RecordWarning] = []
        parts: dict[str, list[Any]] = {}
        stats: dict[str, FieldStat] = {}
        total = self.record_count()
        done = 0
        known = {k for (k,) in self.db.execute(KNOWN)}
        for kind, table in TABLES.items():
            tallied = stats if kind != "accounts" else {}  # the gate judges accounts apart
            with no_gc():
                parts[kind] = self._read(table, self._rows(table), warnings, tallied,
                                         known=known if kind in RELATED else None)
            tally(tallied, kind, 0, [rid for rid, _ in self._unreadable(kind, warnings)])
            done += len(parts[kind])
            progress("pull", done, total)
        progress("pull", total, total)
        return Snapshot.model_construct(as_of=as_of, warnings=warnings, field_stats=stats, **parts)

    def _count(self, name: str) -> int:
        return int(self.db.execute(f'SELECT COUNT(*) FROM "{name}"').fetchone()[0])

    def pull_accounts(self, as_of: date) -> Iterator[Account]:
        table = TABLES["accounts"]
        for row in self._rows(table):
            try:
                yield table.build(row)
            except (ValueError, TypeError, KeyError):
                continue  # pull_chunks reports it

    def pull_account_summaries(self, as_of: date, start: str | None = None,
                               stop: str | None = None) -> Iterator[AccountSummary]:
        """`pull_accounts` narrowed to what the portfolio context reads (see summaries.py), of
        the account keys from `start` to before `stop` where given."""
        return account_summaries(self.db, start, stop)

    def context_split(self, share: float, more_than: int = 0) -> str | None:  # SplitConnector's
        # in memory: no other reader
        return context_split(self.db, share, more_than) if self._file() else None

    def pull_chunks(self, as_of: date, size: int, progress: Progress = no_progress,
                    key_only: frozenset[str] = frozenset(), records: int | None = None
                    ) -> Iterator[Snapshot]:
        """Accounts in id order, each with all its records (the kinds in `key_only`: of key
        accounts only), in chunks of at most `size` accounts and about `records` records (by
        default the portfolio's mean per `size` accounts), so a chunk of key accounts with
        many records is no bigger than the rest. The first chunk carries the users' and the
        orphans' warnings before its own."""
        users, warnings = self.pull_users()
        spans, orphans = self.chunk_spans(as_of, size, records)
        stats = plan_tally(users, warnings, orphans)
        warnings += orphans
        total = sum(s.accounts for s in spans)
        done = 0
        chunks = self.pull_spans(as_of, spans, users, warnings, key_only)
        try:
            for span, chunk in zip(spans, chunks, strict=True):
                if stats:  # the users' and orphans' tally goes first in the first chunk, as
                    merge_stats(stats, chunk.field_stats)  # their warnings do
                    chunk.field_stats, stats = stats, {}
                yield chunk
                del chunk
                done += span.accounts
                progress("pull", done, total)
        finally:
            chunks.close()  # unfreezes the last chunk (see Held)
        if not spans:
            yield Snapshot.model_construct(as_of=as_of, warnings=warnings, users=users,
                                           field_stats=stats)
            progress("pull", 0, 0)

    def pull_users(self) -> tuple[list[Any], list[RecordWarning]]:
        """The users (every chunk carries them all) and the warnings of those unreadable."""
        warnings: list[RecordWarning] = []
        with no_gc():
            users = self._built(TABLES["users"], self._rows(TABLES["users"]), warnings)
        self._unreadable("users", warnings)
        return users, warnings

    def chunk_spans(self, as_of: date, size: int, records: int | None = None
                    ) -> tuple[list[ChunkSpan], list[RecordWarning]]:
        """The chunks `pull_chunks` pulls (see there), as spans of account keys for `pull_span`,
        and a warning for each record whose account is not in the CRM (no span holds it)."""
        accounts, orphaned = related_counts(self.db)
        orphans = self._orphans() if orphaned else []
        total = sum(n for _, n in accounts)
        budget = records or max(1, math.ceil(size * (total + len(accounts)) / max(len(accounts), 1)))
        filtered = bool(orphans)
        return [ChunkSpan(first, last, n, filtered)
                for first, last, n in planned(accounts, size, budget)], orphans

    def pull_spans(self, as_of: date, spans: Iterable[ChunkSpan], users: list[Any],
                   warnings: list[RecordWarning] | None = None,
                   key_only: frozenset[str] = frozenset()) -> Iterator[Snapshot]:
        """`pull_span` for each span in turn (`warnings` go first in the first chunk), each
        chunk kept from the cycle collector while it is used, until the next (see `Held`)."""
        held = Held()
        first = list(warnings or [])
        try:
            for span in spans:
                with no_gc():  # frozen before the collector could walk the new records
                    held.release()  # the previous chunk, if alive, is collectable again
                    chunk = self._span(as_of, span, users, first, key_only)
                    held.hold()
                first = []
                yield chunk
                del chunk
        finally:
            held.release()

    def pull_span(self, as_of: date, span: ChunkSpan, users: list[Any]) -> Snapshot:
        """One chunk of `chunk_spans`, with `users` (see `pull_users`): its accounts and their
        records, and the warnings of its own records that do not build."""
        return self._span(as_of, span, users, [])

    # --- the run's worker processes (kamrules.protocol.connector.SplitConnector) ------------

    def chunk_plan(self, as_of: date, size: int, records: int | None = None) -> ChunkPlan | None:
        """`pull_chunks` planned, for worker processes that pull each chunk themselves
        (`reader().pull_chunk`): its spans, users and the warnings that go before every chunk's;
        None for a CRM in memory, which no other process can read."""
        if not self._file():
            return None
        users, warnings = self.pull_users()
        spans, orphans = self.chunk_spans(as_of, size, records)
        return ChunkPlan(list(spans), users, warnings + orphans, plan_tally(users, warnings, orphans))

    def _file(self) -> str:
        return str(self.db.execute("PRAGMA database_list").fetchone()[2])

    def reader(self) -> RecordReader:
        """A read-only connection of its own to the same file, for a worker process."""
        return RecordReader(Path(self._file()))

    def _orphans(self) -> list[RecordWarning]:
        """A warning for each record whose account is not in the CRM at all (no chunk holds it)."""
        orphans: list[tuple[str, str, Any]] = []
        for kind in RELATED:
            orphans += [(kind, rid, account) for rid, account in self.db.execute(
                f'SELECT "key", account_id FROM "{kind}" WHERE account_id NOT IN ({KNOWN})')]
        orphans += self.db.execute(
            f"SELECT kind, id, account_id FROM records_unreadable WHERE {RELATED_UNREADABLE}"
            f" AND (account_id IS NULL OR account_id NOT IN ({KNOWN}))").fetchall()
        orphans.sort(key=lambda o: (o[0], o[1]))
        return [RecordWarning(kind=kind, record_id=rid,
                              message=f"refers to account {account!r}, which does not exist")
                for kind, rid, account in orphans]

    def _span(self, as_of: date, span: ChunkSpan, users: list[Any],
              warnings: list[RecordWarning], key_only: frozenset[str] = frozenset()) -> Snapshot:
        # a record of an account that is not in the CRM can fall in the span: chunk_spans has
        # reported it, and it is left out here; the kinds in `key_only` are read of the span's
        # key accounts only (what a run reads of the others: kamrules/run/projection.py)
        bounds = (span.first, span.last)
        members = self._members(bounds) if span.filtered else None
        parts: dict[str, list[Any]] = {"users": list(users)}
        stats: dict[str, FieldStat] = {}
        with no_gc():
            for kind, table in TABLES.items():
                if kind == "users":
                    continue
                if kind == "accounts":  # the gate judges the accounts apart, from the warnings
                    rows = self._rows(table, 'WHERE "key" BETWEEN ? AND ?', bounds)
                    parts[kind] = self._built(table, rows, warnings)
                    self._unreadable(kind, warnings, "AND id BETWEEN ? AND ?", bounds)
                    continue
                rows = self._rows(table, KEY_ONLY if kind in key_only else
                                  "WHERE account_id BETWEEN ?1 AND ?2", bounds, "account_id, rowid")
                parts[kind] = self._read(table, rows, warnings, stats, members)
                unread = self._unreadable(kind, warnings, "AND account_id BETWEEN ? AND ?", bounds,
                                          members)
                if unread and kind in key_only:  # every one is reported; tallied as read: of key
                    keys = self._keys(bounds)
                    unread = [u for u in unread if u[1] in keys]
                tally(stats, kind, 0, [rid for rid, _ in unread])
            # every list holds built records of its kind: no validation again. `clean` has
            # nothing to drop when every account of the span built: each table's key is its id,
            # and a record of an account not in the CRM is left out above
            return Snapshot.model_construct(as_of=as_of, warnings=warnings, **parts,
                                            field_stats=stats, withheld=key_only,
                                            checked=len(parts["accounts"]) == span.accounts)

    def _keys(self, bounds: tuple[str, str]) -> set[str]:
        """The key accounts of a span."""
        return {k for (k,) in self.db.execute(
            'SELECT "key" FROM accounts WHERE "key" BETWEEN ?1 AND ?2 AND is_key = 1', bounds)}

    def _members(self, bounds: tuple[str, str]) -> set[str]:
        """The accounts of a span: its readable and unreadable account keys."""
        return {k for (k,) in self.db.execute(
            'SELECT "key" FROM accounts WHERE "key" BETWEEN ?1 AND ?2 UNION ALL'
            " SELECT id FROM records_unreadable WHERE kind = 'accounts' AND id BETWEEN ?1 AND ?2",
            bounds)}


# every account key, readable or not: a record of any other account is an orphan
KNOWN = 'SELECT "key" FROM accounts UNION SELECT id FROM records_unreadable WHERE kind = \'accounts\''
# a related kind's rows of a span's key accounts only (`_span`'s `key_only`)
KEY_ONLY = ('WHERE account_id BETWEEN ?1 AND ?2 AND account_id IN (SELECT "key" FROM accounts'
            ' WHERE "key" BETWEEN ?1 AND ?2 AND is_key = 1)')


class RecordReader(RecordStore):
    """Records read through a read-only connection of its own (WAL: it never blocks writers).
    `pull_chunk` pulls the spans of a `chunk_plan` one after another, each chunk kept from the
    cycle collector until the next (see `Held`)."""

    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=120,
                                  isolation_level=None)
        self._held = Held()

    def pull_chunk(self, as_of: date, chunk: ChunkSpan, users: list[Any],
                   key_only: frozenset[str] = frozenset()) -> Snapshot:
        """One planned chunk's accounts with all their records (less the plan's warnings; the
        kinds in `key_only`, of its key accounts only)."""
        with no_gc():
            self._held.release()
            snapshot = self._span(as_of, chunk, users, [], key_only)
            self._held.hold()
        return snapshot

    def close(self) -> None:
        self._held.release()
        self.db.close()
