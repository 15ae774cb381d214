"""The Salesforce connector (`crm: {type: salesforce}`), on simple-salesforce.

Opening it logs in and checks the field mapping against the org with describe calls, so a
missing object or field is reported before any data moves. See docs/salesforce.md.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from kamrules.connectors.cache import RecordCache
from kamrules.connectors.salesforce import account_fields
from kamrules.connectors.salesforce.answers import keyed
from kamrules.connectors.salesforce.auth import http_session, login, read_secrets
from kamrules.connectors.salesforce.client import SfClient, SfError
from kamrules.connectors.salesforce.config import SalesforceConfig
from kamrules.connectors.salesforce.describe import MAX_HOPS, Describe
from kamrules.connectors.salesforce.mapping import (
    MappingError,
    load_mapping,
    objects_needed,
    parents_needed,
    resolve,
)
from kamrules.connectors.salesforce.pull import Puller, on_path
from kamrules.connectors.salesforce.write import READ_FIELDS, WRITE_FIELDS, TaskWriter
from kamrules.inputs.secrets import redact
from kamrules.model import RecordWarning, Snapshot, Task
from kamrules.protocol.changes import Change, ChangeResult
from kamrules.protocol.connector import Progress, no_progress

CONFIG = SalesforceConfig


class SalesforceConnector:
    """kamrules.protocol.connector.Connector for one Salesforce org."""

    def __init__(self, client: SfClient, config: SalesforceConfig, puller: Puller,
                 writer: TaskWriter, notes: list[str], cache: RecordCache | None,
                 account_describe: dict[str, Any] | None = None):
        self.client = client
        self.config = config
        self.puller = puller
        self.writer = writer
        self.notes = notes
        self.cache = cache
        self.account_describe = account_describe
        self.account_types: dict[str, str | None] = {}  # health field -> describe type, once checked
        self.health_failures: list[RecordWarning] = []

    @property
    def api_calls(self) -> int:
        return self.client.total_calls

    def pull(self, as_of: date, progress: Progress = no_progress) -> Snapshot:
        run_start = datetime.now(UTC)
        self.puller.pull_rows(run_start, progress)
        snapshot = self.puller.snapshot(as_of)
        notes = [*self.notes, *filter(None, [self.client.decoded.warning("Salesforce")])]
        snapshot.warnings[:0] = [RecordWarning(kind="mapping", record_id="-", message=n)
                                 for n in notes]
        return snapshot

    def list_tasks(self, completed_since: date) -> list[Task]:
        return self.writer.list_tasks(completed_since)

    @property
    def task_warnings(self) -> list[RecordWarning]:
        """Task rows the last list_tasks could not read (the run reports them)."""
        return self.writer.task_warnings

    @property
    def write_warnings(self) -> list[RecordWarning]:
        """Writes beside the plan that failed: closing unreadable tasks, account health."""
        secrets = self.client.secrets
        return [w.model_copy(update={"message": redact(w.message, secrets)})
                for w in self.writer.write_warnings + self.health_failures]

    # --- account health (kamrules.protocol.health) ---------------------------------------------

    def prepare_account_fields(self, fields: Mapping[str, str]) -> list[str]:
        """Check the health fields against Account's describe (no API call: it was described at
        login); when they fit, the pull reads them with the accounts."""
        problems = self.client.checked(fields, account_fields.check, "describe", self.account_describe)
        if problems:
            return problems
        meta = {f["name"]: f.get("type") for f in (self.account_describe or {}).get("fields", [])}
        self.account_types = {name: meta.get(name) for name in fields.values()}
        self.puller.add_account_columns(list(self.account_types))
        return []

    def read_account_fields(self, names: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The fields' current values: from the pull's account rows when it read them, else one
        paged query over Account (never a call per account)."""
        meta = {f["name"]: f.get("type") for f in (self.account_describe or {}).get("fields", [])}
        if set(names) <= set(self.account_types):
            rows = self.puller.account_rows()
        else:
            soql = f"SELECT Id, {', '.join(names)} FROM Account"
            rows = [r for page in self.client.query_pages(soql) for r in page["records"]]
            self.client.checked(rows, keyed, "query", "Account")
        return {str(r["Id"]): {n: account_fields.normal(r.get(n), meta.get(n)) for n in names}
                for r in rows}

    def write_account_fields(self, values: Mapping[str, Mapping[str, Any]]) -> int:
        written, failures = account_fields.write(self.client, values)
        self.health_failures += failures
        return written

    def task_url(self, task_id: str) -> str | None:
        """The task's record page in Lightning Experience on this org's instance."""
        return f"https://{self.client.sf.sf_instance}/lightning/r/Task/{task_id}/view"

    def apply(self, changes: Sequence[Change], progress: Progress = no_progress) -> list[ChangeResult]:
        results = self.writer.apply(changes, progress)
        secrets = self.client.secrets
        return [r.model_copy(update={"error": redact(r.error, secrets)}) if r.error else r
                for r in results]

    def commit(self) -> None:
        if self.cache is not None:
            self.cache.commit()

    def close(self) -> None:
        if self.cache is not None:
            self.cache.close()
        self.client.sf.session.close()


def connect(config: SalesforceConfig, base_dir: Path, state_dir: Path,
            sleep: object = None) -> SalesforceConnector:
    """Log in, describe the mapped objects, and build the connector; fails before any pull."""
    mapping = load_mapping(_path(config.mapping, base_dir) if config.mapping else None)
    secrets = read_secrets(config, base_dir)
    session = http_session(config, base_dir)
    sf, reauth = login(config, base_dir, session, secrets)
    kwargs = {"sleep": sleep} if sleep is not None else {}
    client = SfClient(sf, config.retry, config.api_budget_share, list(secrets.values()), reauth,
                      timeout=config.timeout_seconds, page_size=config.page_size, **kwargs)
    if config.auth.method != "session":
        client.calls["login"] += 1
    try:
        described = {name: client.describe(name) for name in objects_needed(mapping)}
        describe = Describe(described)
        tried = set(described)
        for _ in range(MAX_HOPS):  # one more lookup of the mapping's relationship paths each time
            more = [name for name in parents_needed(mapping, describe) if name not in tried]
            tried.update(more)
            describe.add({name: client.describe(name) for name in more})
    except SfError:
        session.close()
        raise
    streams, errors, notes = resolve(mapping, describe)
    for r in streams:
        if r.account_path and r.spec.scope == "key_accounts":
            try:
                on_path(config.key_account_filter, r.account_path)
            except ValueError as exc:
                errors.append(f"stream {r.spec.name}: key_account_filter cannot be applied through"
                              f" {r.account_path} ({exc}); give the stream scope: all_accounts or"
                              " a filter without a subquery")
    for verb, names in (("reads back", READ_FIELDS), ("writes", WRITE_FIELDS)):
        missing = [f"Task.{n}" for n in names if not describe.has("Task", n)]
        if missing:
            errors.append(f"tasks: kamrules {verb} {', '.join(missing)}, which the integration user"
                          " cannot see (field-level security)")
    if config.fingerprint_field and not describe.has("Task", config.fingerprint_field):
        errors.append(f"fingerprint_field: Task.{config.fingerprint_field} does not exist; create"
                      " it (Text, 255, External ID) or remove the setting")
    if errors:
        session.close()
        raise MappingError("the Salesforce mapping does not fit this org (nothing was pulled):\n  "
                           + "\n  ".join(errors))
    cache = RecordCache(state_dir / "salesforce-cache.sqlite") if config.incremental else None
    writer = TaskWriter(client, config)
    puller = Puller(client, config, streams, cache, writer.not_ours())
    return SalesforceConnector(client, config, puller, writer, notes, cache, described.get("Account"))


def _path(value: str, base_dir: Path) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else base_dir / path


def open_connector(config: SalesforceConfig, base_dir: Path, state_dir: Path) -> SalesforceConnector:
    return connect(config, base_dir, state_dir)
