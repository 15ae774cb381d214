"""Pulling an org's key-account data: selective SOQL per stream, paged (children too), Bulk API 2.0
for big streams, and incremental pulls merged into the record cache."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any

from kamrules.connectors.cache import RecordCache
from kamrules.connectors.mapping.tally import FieldTally
from kamrules.connectors.salesforce.answers import keyed
from kamrules.connectors.salesforce.client import SfClient
from kamrules.connectors.salesforce.config import SalesforceConfig
from kamrules.connectors.salesforce.mapping import CONTACT_ROLES, Resolved, to_records
from kamrules.connectors.salesforce.roles import merge_roles
from kamrules.model import RecordWarning, Snapshot
from kamrules.protocol.connector import Progress, no_progress

ID_CHUNK = 200  # parent ids per `Id IN (...)` re-read: the query stays well inside a URL


def soql_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def soql_string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


SOQL_TOKEN = re.compile(r"'(?:[^'\\]|\\.)*'|-?[0-9][0-9A-Za-z:.+\-]*|[A-Za-z_][A-Za-z0-9_.]*(?::\d+)?"
                        r"|!=|<>|<=|>=|\S")
WORD = re.compile(r"[A-Za-z_]")
OPERATORS = {"=", "!=", "<>", "<", ">", "<=", ">=", "LIKE", "IN", "NOT", "INCLUDES", "EXCLUDES"}
KEYWORDS = OPERATORS | {"AND", "OR"}


def on_path(condition: str, path: str) -> str:
    """A SOQL condition on Account, rewritten to reach it through a relationship path:
    `Type = 'Key Account'` on `Opportunity.Account` is `Opportunity.Account.Type = 'Key Account'`.

    A field is a name before a comparison operator, or the argument of a function
    (`CALENDAR_YEAR(CreatedDate) = 2024`). A condition with a subquery cannot be rewritten
    (SOQL allows no relationship on the left of a semi-join): ValueError.
    """
    found = list(SOQL_TOKEN.finditer(condition))
    tokens = [m.group() for m in found]
    if any(t.upper() == "SELECT" for t in tokens):
        raise ValueError("it has a subquery")

    def name(i: int) -> bool:
        return 0 <= i < len(tokens) and bool(WORD.match(tokens[i])) and tokens[i].upper() not in KEYWORDS

    text, pos = "", 0
    for i, m in enumerate(found):
        after = tokens[i + 1].upper() if i + 1 < len(tokens) else ""
        argument = i >= 2 and tokens[i - 1] == "(" and name(i - 2) and after == ")"
        if name(i) and (after in OPERATORS or argument):
            text += condition[pos:m.start()] + f"{path}."
            pos = m.start()
    return text + condition[pos:]


class Puller:
    """Pulls every stream of the mapping into the cache (or memory) and maps it to a Snapshot."""

    def __init__(self, client: SfClient, config: SalesforceConfig, streams: list[Resolved],
                 cache: RecordCache | None, exclude_tasks: str):
        self.client = client
        self.config = config
        self.streams = streams
        self.cache = cache
        self.exclude_tasks = exclude_tasks
        self.memory: dict[str, list[dict[str, Any]]] = {}
        self.modes: dict[str, str] = {}  # stream -> full | incremental | bulk..., for reports/tests

    # --- SOQL --------------------------------------------------------------------------------

    def where(self, r: Resolved, part: str, since: datetime | None,
              ids: list[str] | None = None) -> str:
        key = f"({self.config.key_account_filter})"
        clauses: list[str] = []
        if part == "key":
            clauses.append(key)
        elif part == "other":
            clauses.append(f"NOT {key}")
        elif r.spec.scope == "key_accounts" and r.account_path:
            # SOQL has no relationship on the left of a semi-join: filter through the path
            clauses.append(f"({on_path(self.config.key_account_filter, r.account_path)})")
        elif r.spec.scope == "key_accounts" and r.spec.account_field:
            clauses.append(f"{r.spec.account_field} IN (SELECT Id FROM Account WHERE {key})")
        if r.spec.where:
            clauses.append(f"({r.spec.where})")
        if r.spec.exclude_kamrules_tasks:
            clauses.append(self.exclude_tasks)
        if since is not None:
            clauses.append(f"SystemModstamp > {soql_time(since)}")
        if ids is not None:
            clauses.append(f"Id IN ({', '.join(soql_string(i) for i in ids)})")
        return (" WHERE " + " AND ".join(clauses)) if clauses else ""

    def soql(self, r: Resolved, part: str, since: datetime | None, ids: list[str] | None = None) -> str:
        light = part == "other"
        deleted = ", IsDeleted" if since is not None else ""
        where = self.where(r, part, since, ids)
        return f"SELECT {r.select(light)}{deleted} FROM {r.spec.object}{where}"

    # --- pulling -----------------------------------------------------------------------------

    def parts(self) -> Iterator[tuple[Resolved, str, str]]:
        """(stream, part, cache name): accounts come as key accounts and the light rest."""
        for r in self.streams:
            if r.spec.kind == "accounts":
                yield r, "key", f"{r.spec.name}.key"
                yield r, "other", f"{r.spec.name}.other"
            else:
                yield r, "all", r.spec.name

    def pull_rows(self, run_start: datetime, progress: Progress = no_progress) -> None:
        cfg = self.config
        lookback = timedelta(minutes=cfg.lookback_minutes)
        full_every = timedelta(days=cfg.full_refresh_days) if cfg.full_refresh_days is not None else None
        key_before = self._ids("accounts.key")
        force_full = False
        for done, (r, part, name) in enumerate(self.parts(), 1):
            light = part == "other"
            shape = f"{r.select(light)} | {self.where(r, part, None)}"
            since = None
            if self.cache is not None and cfg.incremental and r.spec.incremental and not force_full:
                since = self.cache.since(name, shape, lookback, full_every)
            rows, deleted, mode = self._fetch(r, part, since)
            if since is not None and r.spec.watch_children and part != "other":
                rows.extend(self._changed_parents(r, part, since, {row["Id"] for row in rows} | set(deleted)))
            if since is not None and r.spec.hard_deletes and self.cache is not None and self._count(
                    r, part) != len(self._ids(name) - set(deleted) | {row["Id"] for row in rows}):
                rows, deleted, mode = self._fetch(r, part, None)  # some went for good: read all again
                since, mode = None, mode + " (count changed)"
            self.modes[name] = mode
            if self.cache is None:
                self.memory[name] = rows
            else:
                if since is None:
                    self.cache.replace(name, ((row["Id"], row) for row in rows))
                else:
                    self.cache.upsert(name, ((row["Id"], row) for row in rows))
                    self.cache.delete(name, deleted)
                self.cache.stage(name, shape, run_start, full=since is None)
            if name.endswith(".other") and self.cache is not None:
                # an account that stopped being key is now in the light stream
                self.cache.delete(name.replace(".other", ".key"), [row["Id"] for row in rows])
            if name.endswith(".key") and self.cache is not None:
                self.cache.delete(name.replace(".key", ".other"), [row["Id"] for row in rows])
                # new key accounts: their older children were never pulled, so pull all again
                force_full = bool(self._ids(name) - key_before) and bool(key_before)
            progress("pull", done, None)

    def _changed_parents(self, r: Resolved, part: str, since: datetime, have: set[str]
                         ) -> list[dict[str, Any]]:
        """Parents (with all their children) of child records changed or deleted since `since`,
        other than those in `have`: one query per child object, then the parents by id."""
        ids: set[str] = set()
        for child, link in r.child_links:
            soql = f"SELECT {link} FROM {child} WHERE SystemModstamp > {soql_time(since)}"
            for page in self.client.query_pages(soql, include_deleted=True):
                ids.update(str(row[link]) for row in page["records"] if row.get(link))
        wanted = sorted(ids - have)
        rows: list[dict[str, Any]] = []
        for start in range(0, len(wanted), ID_CHUNK):
            soql = self.soql(r, part, None, wanted[start:start + ID_CHUNK])
            for page in self.client.query_pages(soql):
                rows.extend(_plain(page["records"]))
        return self.client.checked(rows, keyed, "query", r.spec.object)

    def _count(self, r: Resolved, part: str) -> int:
        """How many rows the org has in the stream's scope now: one COUNT() query."""
        soql = f"SELECT COUNT() FROM {r.spec.object}{self.where(r, part, None)}"
        return next(self.client.query_pages(soql)).get("totalSize", 0)

    def _ids(self, name: str) -> set[str]:
        if self.cache is None:
            return {row["Id"] for row in self.memory.get(name, [])}
        return self.cache.ids(name)

    def _fetch(self, r: Resolved, part: str, since: datetime | None
               ) -> tuple[list[dict[str, Any]], list[str], str]:
        soql = self.soql(r, part, since)
        incremental = since is not None
        rows: list[dict[str, Any]] = []
        pages = self.client.query_pages(soql, include_deleted=incremental)
        first = next(pages)
        mode = "incremental" if incremental else "full"
        if first.get("totalSize", 0) > self.config.bulk_threshold and not r.has_children:
            pages.close()
            for chunk in self.client.bulk_query(soql, include_deleted=incremental):
                rows.extend(chunk)
            mode = "bulk-" + mode
        else:
            rows.extend(_plain(first["records"]))
            for page in pages:
                rows.extend(_plain(page["records"]))
        self.client.checked(rows, keyed, "query", r.spec.object)
        deleted = [row["Id"] for row in rows if str(row.get("IsDeleted", "")).lower() == "true"
                   or row.get("IsDeleted") is True]
        live = [row for row in rows if row["Id"] not in set(deleted)] if deleted else rows
        return live, deleted, mode

    def add_account_columns(self, names: list[str]) -> None:
        """Read these Account fields too (kamrules' health fields), in every part of the pull."""
        for r in self.streams:
            if r.spec.kind == "accounts":
                r.columns = list(dict.fromkeys([*r.columns, *names]))
                r.light_columns = list(dict.fromkeys([*r.light_columns, *names]))

    def account_rows(self) -> list[dict[str, Any]]:
        """Every pulled Account row (key accounts and the light rest)."""
        return [row for r, _, name in self.parts() if r.spec.kind == "accounts"
                for row in self.rows(name)]

    def rows(self, name: str) -> list[dict[str, Any]]:
        if self.cache is None:
            return self.memory.get(name, [])
        return list(self.cache.rows(name))

    # --- mapping -----------------------------------------------------------------------------

    def snapshot(self, as_of: date) -> Snapshot:
        parts: dict[str, list[Any]] = {}
        warnings: list[RecordWarning] = []
        key_ids = self._ids("accounts.key")
        roles: list[tuple[Resolved, list[dict[str, Any]]]] = []
        tally = FieldTally()
        for r, part, name in self.parts():
            rows = self.rows(name)
            if part == "all" and r.spec.scope == "key_accounts" and r.spec.account_field:
                field = r.spec.account_field
                rows = [row for row in rows if row.get(field) in key_ids]
            if r.spec.kind == CONTACT_ROLES:
                roles.append((r, rows))
                continue
            extra = {"is_key": part == "key"} if part in ("key", "other") else None
            good, bad = to_records(r, rows, as_of, light=part == "other", extra=extra, tally=tally)
            parts.setdefault(r.spec.kind, []).extend(good)
            warnings.extend(bad)
        if roles:
            parts["contacts"], bad = merge_roles(parts.get("contacts", []), parts.get("deals", []),
                                                 roles, as_of)
            warnings.extend(bad)
        for r in self.streams:  # the raw values value maps met, for `kamrules doctor`
            for canon, seen in r.seen.items():
                if r.spec.kind != CONTACT_ROLES:
                    tally.seen(f"{r.spec.kind}.{canon}", seen.values, seen.unmapped)
        warnings.extend(tally.warnings)
        return Snapshot(as_of=as_of, warnings=warnings, field_stats=tally.stats, **parts)


def _plain(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Records without their `attributes` blocks (type and URL), which the cache need not keep;
    parent fields (`"Opportunity": {"AccountId": ...}`) flat as Bulk API CSV has them
    (`"Opportunity.AccountId"`)."""
    for rec in records:
        rec.pop("attributes", None)
        for key, value in list(rec.items()):
            if isinstance(value, dict) and "records" in value:
                for child in value.get("records", []):
                    child.pop("attributes", None)
            elif isinstance(value, dict):
                del rec[key]
                rec.update(_flat(key, value))
    return records


def _flat(path: str, parent: dict[str, Any]) -> dict[str, Any]:
    """A parent's fields under their paths, its own parents' too (`Owner.Manager.Name`: the REST
    API nests each lookup in the one before; read as one level, the field was missing on every row)."""
    out: dict[str, Any] = {}
    for k, v in parent.items():
        if k == "attributes":
            continue
        if isinstance(v, dict) and "records" not in v:
            out.update(_flat(f"{path}.{k}", v))
        else:
            out[f"{path}.{k}"] = v
    return out
