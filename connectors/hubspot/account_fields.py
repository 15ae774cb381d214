"""Account health as HubSpot company properties (kamrules.protocol.health): checked against the
property definitions the pull reads anyway, read with the companies' own rows, written with the
batch update endpoint 100 companies a call, only where a value changed.

Before anything moves, each configured property must exist on companies, have a type that holds
its value (health and open findings: number; worst severity: single-line text or a dropdown with
every severity as an option; last evaluated: date, date-time or text) and be writable (not
read-only, not calculated); every problem is named at once, exit 2.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from typing import Any

from kamrules.connectors.hubspot.http import HubSpotApi, HubSpotError
from kamrules.connectors.hubspot.pull import Reader, chunks, objects_of
from kamrules.errors import CrmError, KamError
from kamrules.model import SEVERITIES
from kamrules.protocol.faults import checkpoint

WRITE_BATCH = 100  # HubSpot's batch update takes at most 100 records a call
TYPES = {  # value key -> the property types that hold it
    "health": ("number",),
    "open_findings": ("number",),
    "worst_severity": ("string", "enumeration"),
    "last_evaluated": ("date", "datetime", "string"),
}
CREATE_AS = {"health": "Number", "open_findings": "Number", "worst_severity": "Single-line text",
             "last_evaluated": "Date picker"}
WORST_FIRST = sorted(SEVERITIES, key=("critical", "high", "medium", "low", "info").index)
Row = dict[str, Any]


class AccountFields:
    """The health properties of one portal's companies: checked, read in the pull, written back."""

    def __init__(self, api: HubSpotApi, reader: Reader):
        self.api = api
        self.reader = reader
        self.fields: dict[str, str] = {}  # value key -> property name; empty: not prepared
        self.current: dict[str, dict[str, Any]] = {}  # company id -> {property: value}
        self.read_in_pull = False
        self.company_ids: list[str] = []
        self.types: dict[str, str] = {}  # property name -> its HubSpot type, once checked

    @property
    def names(self) -> list[str]:
        return sorted(set(self.fields.values()))

    def check(self, definitions: list[dict[str, Any]], fields: Mapping[str, str] | None = None) -> None:
        """Every configured property exists, fits its value and is writable; else KamError.
        (`fields` by name only, when the values they hold are not known: exists and writable.)"""
        by_name = {str(d.get("name")): d for d in definitions}
        problems = []
        for key, name in sorted((fields or self.fields).items()):
            d = by_name.get(name)
            if d is None:
                close = difflib.get_close_matches(name, list(by_name), n=3, cutoff=0.6)
                hint = f" (similar: {', '.join(close)})" if close else ""
                problems.append(f"health_fields.{key}: HubSpot companies have no property {name!r}{hint};"
                                f" create it as a {CREATE_AS.get(key, 'writable')} company property")
                continue
            kind, meta = _definition(d, name), d.get("modificationMetadata") or {}
            if kind not in TYPES.get(key, (kind,)):
                problems.append(f"health_fields.{key}: company property {name!r} is of type {kind}"
                                f" ({d.get('fieldType')}); {key} needs {' or '.join(TYPES[key])}")
            elif d.get("calculated") or str(d.get("fieldType", "")).startswith("calculation"):
                problems.append(f"health_fields.{key}: company property {name!r} is calculated by"
                                " HubSpot; kamrules cannot write it")
            elif meta.get("readOnlyValue"):
                problems.append(f"health_fields.{key}: company property {name!r} is read-only")
            elif kind == "enumeration" and key == "worst_severity":
                options = {str(o.get("value")) for o in d.get("options") or []}
                missing = [s for s in WORST_FIRST if s not in options]
                if missing:
                    problems.append(f"health_fields.{key}: dropdown property {name!r} has no option"
                                    f" {', '.join(missing)} (internal values); add them")
        if problems:
            raise KamError("HubSpot pre-flight for `health_fields:` (nothing was written):\n  "
                           + "\n  ".join(problems))
        self.types.update({name: str(by_name[name].get("type")) for name in (fields or self.fields).values()})

    def remember(self, companies: Mapping[str, Row]) -> None:
        """The current values, from the companies' rows the pull read (no call of its own)."""
        self.company_ids = list(companies)
        if self.fields:
            self.current = {cid: _values(row.get("properties") or {}, self.names)
                            for cid, row in companies.items()}
            self.read_in_pull = True

    def read(self, names: Sequence[str]) -> dict[str, dict[str, Any]]:
        """company id -> {property: value} for the companies with any of them set."""
        wanted = sorted(set(names))
        if not self.read_in_pull or not set(wanted) <= set(self.names):
            # not prepared before the pull: check them by name, read them now, 100 companies a call
            if not set(wanted) <= set(self.types):
                if "companies" not in self.reader.definitions:
                    self.reader.property_names("companies")
                self.check(self.reader.definitions["companies"], {n: n for n in wanted})
            rows = self.reader.batch_read("companies", self.company_ids, wanted)
            self.current = {str(r["id"]): _values(r["properties"], wanted) for r in rows}
        return {cid: {n: v[n] for n in wanted if n in v}
                for cid, v in self.current.items() if any(v.get(n) is not None for n in wanted)}

    def write(self, values: Mapping[str, Mapping[str, Any]]) -> int:
        """Batch updates of 100; the number of companies written. A refused batch stops the
        write-back with HubSpot's message (exit 4) after the other batches are tried, as does one
        answered without its results; companies deleted since the pull are skipped."""
        written, refused = 0, []
        order = sorted(values, key=lambda i: (len(i), i))
        for part in chunks(order, WRITE_BATCH):
            inputs = [{"id": cid, "properties": {n: self._text(n, v) for n, v in values[cid].items()}}
                      for cid in part]
            try:
                _, body = self.api.call("POST /crm/v3/objects/companies/batch/update",
                                        self.api.client.crm.objects.batch_api.update, "companies",
                                        {"inputs": inputs})
            except HubSpotError as exc:
                if exc.status in (401, 403, 429) or exc.status is None:
                    raise
                refused.append(str(exc))
                continue
            if not isinstance(body.get("results"), list):  # none written, whatever the status says
                refused.append(f"HubSpot answered a batch update without its results"
                               f" ({', '.join(sorted(body))[:200] or 'an empty answer'})")
                continue
            done = {str(r.get("id")) for r in objects_of(body["results"])}
            for cid in part:
                if cid in done:
                    self.current.setdefault(cid, {}).update(values[cid])
            written += len(done & set(part))
            checkpoint("health")  # a crash between batches: the rerun writes only what still differs
        if refused:
            raise CrmError(f"HubSpot refused health fields for some companies ({len(refused)} of"
                           f" {-(-len(order) // WRITE_BATCH)} batches; {written} companies written):"
                           f" {refused[0][:500]}")
        return written

    def _text(self, name: str, value: Any) -> str:
        """A value as HubSpot takes it: numbers and dates as text, nothing as '' (clears it)."""
        if value is None:
            return ""
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if self.types.get(name) == "datetime" and len(str(value)) == 10:
            return f"{value}T00:00:00Z"
        return str(value)


def _definition(d: Mapping[str, Any], name: str) -> str:
    """The type of a property definition whose other parts are of the shapes HubSpot documents
    (a text `type`, flags, `modificationMetadata` an object, `options` a list of objects); else a
    HubSpotError (exit 4) naming what came: a proxy's or a broken portal's answer was exit 5."""
    what = f"HubSpot answered the company property {name!r} with a definition whose"
    if not isinstance(d.get("type"), str):
        raise HubSpotError(f"{what} type is not text ({str(d.get('type'))[:40]})")
    if not isinstance(d.get("calculated", False), bool):
        raise HubSpotError(f"{what} calculated is not true or false ({str(d['calculated'])[:40]})")
    if not isinstance(d.get("modificationMetadata") or {}, dict):
        raise HubSpotError(f"{what} modificationMetadata is not an object"
                           f" ({str(d['modificationMetadata'])[:80]})")
    options = d.get("options") or []
    if not isinstance(options, list) or not all(isinstance(o, dict) for o in options):
        raise HubSpotError(f"{what} options are not a list of objects ({str(options)[:80]})")
    return d["type"]


def _values(props: Mapping[str, Any], names: Sequence[str]) -> dict[str, Any]:
    return {n: _parse(props.get(n)) for n in names}


def _parse(raw: Any) -> Any:
    """A property value as kamrules compares it: '' or null -> None, whole numbers -> int,
    a date-time at midnight UTC -> its date; anything else as text."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    text = str(raw).strip()
    try:
        number = float(text)
    except ValueError:
        number = None
    if number is not None and number == number and abs(number) < 1e15:
        return int(number) if number.is_integer() else number
    if len(text) > 10 and text[10] == "T" and text[11:19] == "00:00:00":
        return text[:10]
    return text

