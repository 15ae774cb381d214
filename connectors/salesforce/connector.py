"""The Salesforce connector (`crm: {type: salesforce}`), on simple-salesforce.

Opening it logs in and checks the field mapping against the org with describe calls, so a
missing object or field is reported before any data moves. See docs/salesforce.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path

from kamrules.connectors.cache import RecordCache
from kamrules.connectors.salesforce.auth import http_session, login, read_secrets
from kamrules.connectors.salesforce.client import SfClient, SfError
from kamrules.connectors.salesforce.config import SalesforceConfig
from kamrules.connectors.salesforce.mapping import (
    Describe,
    MappingError,
    load_mapping,
    objects_needed,
    parents_needed,
    resolve,
)
from kamrules.connectors.salesforce.pull import Puller, on_path
from kamrules.connectors.salesforce.write import TaskWriter
from kamrules.connectors.secret import redact
from kamrules.model import RecordWarning, Snapshot, Task
from kamrules.protocol.changes import Change, ChangeResult
from kamrules.protocol.connector import Progress, no_progress

CONFIG = SalesforceConfig


class SalesforceConnector:
    """kamrules.protocol.connector.Connector for one Salesforce org."""

    def __init__(self, client: SfClient, config: SalesforceConfig, puller: Puller,
                 writer: TaskWriter, notes: list[str], cache: RecordCache | None):
        self.client = client
        self.config = config
        self.puller = puller
        self.writer = writer
        self.notes = notes
        self.cache = cache

    @property
    def api_calls(self) -> int:
        return self.client.total_calls

    def pull(self, as_of: date, progress: Progress = no_progress) -> Snapshot:
        run_start = datetime.now(UTC)
        self.puller.pull_rows(run_start, progress)
        snapshot = self.puller.snapshot(as_of)
        snapshot.warnings[:0] = [RecordWarning(kind="mapping", record_id="-", message=n)
                                 for n in self.notes]
        return snapshot

    def list_tasks(self, completed_since: date) -> list[Task]:
        return self.writer.list_tasks(completed_since)

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
        describe = Describe({name: client.describe(name) for name in objects_needed(mapping)})
        describe.add({name: client.describe(name) for name in parents_needed(mapping, describe)})
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
    return SalesforceConnector(client, config, puller, writer, notes, cache)


def _path(value: str, base_dir: Path) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else base_dir / path


def open_connector(config: SalesforceConfig, base_dir: Path, state_dir: Path) -> SalesforceConnector:
    return connect(config, base_dir, state_dir)
