"""HubSpot as a kamrules CRM (hubspot-api-client): pull, read tasks back, write tasks, in budget.

Pull: companies by list pages of 100 (or, incrementally, by search on the modification date),
every association through the v4 batch read, related objects by batch reads of 100, raw rows
cached in `state_dir` so each run maps whole accounts. Bookmarks commit only after the run's
writes all succeeded. Mapped properties that do not exist are reported at the start of the pull.
Custom objects the mapping names (plans, surveys, contracts) are resolved against the portal's
schemas first, and then pulled like any related object.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping as Fields
from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from kamrules.connectors.cache import RecordCache, utc_now
from kamrules.connectors.hubspot.account_fields import AccountFields
from kamrules.connectors.hubspot.config import CONFIG, HubSpotConfig, Mapping, load_mapping
from kamrules.connectors.hubspot.http import HubSpotApi
from kamrules.connectors.hubspot.mapping import ENGAGEMENTS, Mapper, Raw, stages_from
from kamrules.connectors.hubspot.objects import CustomObject, resolve
from kamrules.connectors.hubspot.pull import Reader
from kamrules.connectors.hubspot.tasks import TaskStore
from kamrules.errors import KamError
from kamrules.inputs.secrets import SecretError
from kamrules.model import RecordWarning, Snapshot, Task
from kamrules.protocol.changes import Change, ChangeResult
from kamrules.protocol.connector import Progress, no_progress

__all__ = ["CONFIG", "HubSpotConnector", "open_connector"]
RELATED = ("contacts", "deals", *ENGAGEMENTS, "tickets")


class HubSpotConnector:
    """The HubSpot connector (see kamrules.protocol.connector.Connector)."""

    def __init__(
        self,
        config: HubSpotConfig,
        mapping: Mapping,
        api: HubSpotApi,
        cache: RecordCache | None,
        mapping_file: str = "mapping",
    ):
        self.config = config
        self.mapping = mapping
        self.mapping_file = mapping_file
        self.objects: dict[str, CustomObject] = {}
        self.api = api
        self.reader = Reader(api)
        self.tasks = TaskStore(api, config.fingerprint_property)
        self.account_fields = AccountFields(api, self.reader)
        self.cache = cache

    @property
    def api_calls(self) -> int:
        return self.api.total_calls

    @property
    def calls_by_endpoint(self) -> dict[str, int]:
        return dict(self.api.calls)

    def commit(self) -> None:
        if self.cache is not None:
            self.cache.commit()

    def close(self) -> None:
        if self.cache is not None:
            self.cache.close()

    # --- pull ----------------------------------------------------------------------------------

    def pull(self, as_of: date, progress: Progress = no_progress) -> Snapshot:
        started = utc_now()
        self.objects = self.custom_objects()
        warnings = self.check_properties()
        raw = Raw(
            deal_stages=stages_from(self.reader.pipelines("deals")),
            ticket_stages=stages_from(self.reader.pipelines("tickets")),
        )
        raw.owners = self.reader.owners()
        kinds = [*RELATED, *self.objects]
        progress("pull", 1, len(kinds) + 2)
        companies = self._rows("companies", None, started)
        raw.rows["companies"] = companies
        self.account_fields.remember(companies)
        company_ids = sorted(companies, key=_id_order)
        for step, kind in enumerate(kinds, 2):
            links = self.reader.associations("companies", kind, company_ids)
            for cid, to in links.items():
                raw.company_links.setdefault(cid, {})[kind] = to
            wanted = sorted({t for to in links.values() for t, _ in to}, key=_id_order)
            raw.rows[kind] = self._rows(kind, wanted, started)
            if kind in ENGAGEMENTS:
                found = sorted(raw.rows[kind], key=_id_order)
                raw.contact_links[kind] = {
                    eid: [t for t, _ in to]
                    for eid, to in self.reader.associations(kind, "contacts", found).items()
                }
            progress("pull", step, len(kinds) + 2)
        sources = {section: t for t, obj in self.objects.items() for section in obj.sections}
        mapper = Mapper(
            self.mapping, self.config.key_account_property, self.config.key_account_value, sources,
            self.number_properties(),
        )
        snapshot = mapper.snapshot(raw, as_of)
        if (note := self.api.decoded.warning("HubSpot")) is not None:
            warnings.append(RecordWarning(kind="hubspot answers", record_id="-", message=note))
        snapshot.warnings = warnings + snapshot.warnings
        progress("pull", len(kinds) + 2, len(kinds) + 2)
        return snapshot

    def custom_objects(self) -> dict[str, CustomObject]:
        """The custom objects the mapping reads, by objectTypeId; one schemas call, none without any."""
        if not self.mapping.custom_sources():
            return {}
        return resolve(self.mapping, self.reader.schemas(), self.mapping_file)

    def _shape(self, kind: str) -> tuple[list[str], str]:
        """The properties one object type's rows are read with, and its modification-date property."""
        if kind in self.objects:
            obj = self.objects[kind]
            return sorted(obj.properties), obj.modified
        props = self.mapping.properties(kind)
        if kind == "companies" and self.config.key_account_property:
            props = sorted(set(props) | {self.config.key_account_property})
        if kind == "companies" and self.account_fields.fields:  # health read with the companies
            props = sorted(set(props) | set(self.account_fields.names))
        return props, getattr(self.mapping, kind).modified

    def _rows(self, kind: str, wanted: list[str] | None, started: object) -> dict[str, dict]:
        """The rows of one object type: all companies (wanted=None) or the wanted ids."""
        props, modified = self._shape(kind)
        shape = ",".join(props)
        since = None
        if self.cache is not None and self.config.incremental:
            full_every = (
                timedelta(days=self.config.full_refresh_days)
                if self.config.full_refresh_days is not None
                else None
            )
            since = self.cache.since(kind, shape, timedelta(minutes=self.config.lookback_minutes), full_every)
        if since is None:
            rows = (
                self.reader.list_all(kind, props)
                if wanted is None
                else self.reader.batch_read(kind, wanted, props)
            )
            if self.cache is not None:
                self.cache.replace(kind, ((r["id"], r) for r in rows))
                self.cache.stage(kind, shape, started, full=True)  # type: ignore[arg-type]
            return {r["id"]: r for r in rows}
        assert self.cache is not None
        changed = self.reader.modified_since(kind, modified, since, props)
        self.cache.upsert(kind, ((r["id"], r) for r in changed))
        cached = {r["id"]: r for r in self.cache.rows(kind)}
        if wanted is not None:
            missing = [i for i in wanted if i not in cached]
            if missing:
                fresh = self.reader.batch_read(kind, missing, props)
                self.cache.upsert(kind, ((r["id"], r) for r in fresh))
                cached.update({r["id"]: r for r in fresh})
            cached = {i: cached[i] for i in wanted if i in cached}
        self.cache.stage(kind, shape, started, full=False)  # type: ignore[arg-type]
        return cached

    def number_properties(self) -> dict[str, frozenset[str]]:
        """Each object type's properties HubSpot types as numbers (from the pre-flight's property
        lists): their text is machine-written; every other property's is people's."""
        return {kind: frozenset(p["name"] for p in props
                                if p.get("type") == "number" and isinstance(p.get("name"), str))
                for kind, props in self.reader.definitions.items()}

    def check_properties(self) -> list[RecordWarning]:
        """A warning per mapped property HubSpot does not have, naming the closest that exist; the
        task property kamrules writes the fingerprint to must exist (else a config error)."""
        warnings = []
        fp = self.config.fingerprint_property
        if fp:
            existing = self.reader.property_names("tasks")
            if fp not in existing:
                raise KamError(f"crm.fingerprint_property: HubSpot tasks have no property {fp!r}"
                               f" ({_names_hint(fp, existing)}); create it or remove the setting")
        for kind in ("companies", *RELATED, *self.objects):
            props, _ = self._shape(kind)
            existing = self.reader.property_names(kind)
            if kind == "companies" and self.account_fields.fields:
                self.account_fields.check(self.reader.definitions[kind])
            have = set(existing)
            obj = self.objects.get(kind)
            what = f"custom object {obj.name} ({kind}) has" if obj else f"{kind} have"
            for name in sorted(set(props) - have):
                hint = _names_hint(name, existing)
                warnings.append(
                    RecordWarning(
                        kind="hubspot mapping",
                        record_id=f"{obj.name if obj else kind}.{name}",
                        message=f"{what} no property {name!r}; the field it maps stays empty ({hint})",
                    )
                )
            if obj is not None and not obj.linked_to_companies:
                warnings.append(
                    RecordWarning(
                        kind="hubspot mapping",
                        record_id=obj.name,
                        message=f"{what} no association with companies in its schema;"
                        f" its records cannot be matched to accounts ({', '.join(obj.sections)} stay empty)",
                    )
                )
        return warnings

    # --- account health (kamrules.protocol.health) ---------------------------------------------

    def prepare_account_fields(self, fields: Fields[str, str]) -> list[str]:
        """The health properties to check in the pull's pre-flight (with the property list it
        reads anyway: no call here) and read with its companies."""
        self.account_fields.fields = dict(fields)
        return []

    def read_account_fields(self, names: Sequence[str]) -> dict[str, dict[str, Any]]:
        return self.account_fields.read(names)

    def write_account_fields(self, values: Fields[str, Fields[str, Any]]) -> int:
        return self.account_fields.write(values)

    # --- tasks ---------------------------------------------------------------------------------

    def list_tasks(self, completed_since: date) -> list[Task]:
        return self.tasks.list_tasks(completed_since)

    @property
    def task_warnings(self) -> list[RecordWarning]:
        """Task rows the last listing could not read (the run reports them)."""
        return list(self.tasks.warnings)

    def task_url(self, task_id: str) -> str | None:
        """The task's record page in HubSpot (object type 0-27), when `crm.portal_id` is set."""
        if self.config.portal_id is None:
            return None
        return f"{self.config.app_url.rstrip('/')}/contacts/{self.config.portal_id}/record/0-27/{task_id}"

    def apply(self, changes: Sequence[Change], progress: Progress = no_progress) -> list[ChangeResult]:
        return self.tasks.apply(changes, progress)


def _names_hint(name: str, existing: list[str]) -> str:
    """The closest property names, and the non-`hs_` ones that exist (all of them when few)."""
    close = difflib.get_close_matches(name, existing, n=5, cutoff=0.5)
    custom = sorted(n for n in existing if not n.startswith("hs_"))
    parts = [f"similar: {', '.join(close)}"] if close else []
    if not close or len(custom) <= 30:
        parts.append(f"{'some' if len(custom) > 30 else 'those'} that exist: {', '.join(custom[:30])}")
    return "; ".join(parts)


def _id_order(value: str) -> tuple[int, str]:
    return (int(value), "") if value.isdigit() else (1 << 62, value)


def open_connector(config: HubSpotConfig, base_dir: Path, state_dir: Path) -> HubSpotConnector:
    try:
        token = config.access_token.read(base_dir, token=True)
    except SecretError as exc:
        raise KamError(f"crm.access_token: {exc}") from None
    mapping, where = load_mapping(config.mapping, base_dir)
    api = HubSpotApi(
        token,
        config.base_url,
        config.requests_per_10s,
        config.search_per_second,
        config.retry,
        window=config.rate_window_seconds,
        timeout=config.timeout_seconds,
    )
    cache = RecordCache(state_dir / "hubspot-cache.sqlite") if config.incremental else None
    return HubSpotConnector(config, mapping, api, cache, where)
