"""A fake HubSpot on 127.0.0.1 for tests: the v3/v4 CRM endpoints kamrules uses, with HubSpot's
documented shapes (string property values, `paging.next.after`, 207 mixed batch results, 429
bodies with `policyName`, 401), custom objects and their schemas, a per-window call budget it
enforces and counts like HubSpot, and the fewest calls a run can make against it.

This module keeps the portal's state, serves and routes requests and enforces the budgets;
`hubspot_endpoints` answers each endpoint and `hubspot_data` holds HubSpot's properties and the
portfolio loader.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

from tests.support.hubspot_data import (
    CUSTOM,
    CUSTOM_STANDARD,
    MODIFIED,
    NUMBERS,
    PORTAL_ID,
    STANDARD,
    TYPES,
    day_stamp,
    error_body,
    load_portfolio,
    now_iso,
    rate_limited,
    user_edit,
)
from tests.support.hubspot_endpoints import Endpoints


class FakeHubSpot(Endpoints):
    """State and rules of the fake portal; `start()` serves it on 127.0.0.1:<free port>."""

    def __init__(
        self,
        token: str = "pat-na1-fake-token",
        budget: int = 100,
        window: float = 10.0,
        search_per_second: int = 5,
        retry_after: str = "1",
    ):
        self.token = token
        self.budget, self.window = budget, window
        self.search_budget, self.search_window = search_per_second, window / 10.0
        self.retry_after = retry_after
        self.lock = threading.RLock()
        self.objects: dict[str, dict[str, dict[str, Any]]] = {t: {} for t in TYPES}
        self.links: dict[tuple[str, str], dict[str, dict[str, list[int]]]] = {}
        self.owners: list[dict[str, Any]] = []
        self.properties: dict[str, list[str]] = {t: STANDARD.get(t, []) + CUSTOM.get(t, []) for t in TYPES}
        self.schemas: dict[str, dict[str, Any]] = {}  # objectTypeId -> custom object schema
        # (kind, name) -> what a property's definition says beyond the text default (type, options...)
        self.definitions: dict[tuple[str, str], dict[str, Any]] = {}
        self.calls: Counter[str] = Counter()
        self.writes = 0
        self.refused: Counter[str] = Counter()
        self.arrivals: deque[float] = deque()
        self.search_arrivals: deque[float] = deque()
        self.max_in_window = 0
        self.next_id = 10_000
        self.daily_after: int | None = None  # answer DAILY 429 once this many calls were served
        self.daily_after_first: str | None = None  # ... or once this endpoint was served once
        self.failures: list[tuple[str, int, dict[str, Any]]] = []  # (endpoint prefix, status, body)
        # (endpoint prefix, status): carry the request out, then answer so (a 504 after the write)
        self.failures_after: list[tuple[str, int]] = []
        self.reject_create: Callable[[dict[str, Any]], str | None] | None = None
        self.server: ThreadingHTTPServer | None = None

    # --- lifecycle -----------------------------------------------------------------------------

    def start(self) -> str:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                return None

            def do_GET(self) -> None:  # noqa: N802
                fake.handle(self, "GET")

            def do_POST(self) -> None:  # noqa: N802
                fake.handle(self, "POST")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    # --- data ----------------------------------------------------------------------------------

    def new_id(self) -> str:
        self.next_id += 1
        return str(self.next_id)

    def add(self, kind: str, props: dict[str, Any], oid: str | None = None) -> str:
        oid = oid or self.new_id()
        stamp = now_iso()
        clean = {k: ("" if v is None else str(v)) for k, v in props.items()}
        clean.setdefault("createdate", stamp)
        clean["hs_createdate"] = clean.get("hs_createdate") or clean["createdate"]
        clean[MODIFIED.get(kind, "hs_lastmodifieddate")] = stamp
        clean["hs_object_id"] = oid
        self.objects[kind][oid] = {
            "id": oid,
            "properties": clean,
            "createdAt": clean["createdate"],
            "updatedAt": stamp,
            "archived": False,
        }
        return oid

    def update(self, kind: str, oid: str, props: dict[str, Any]) -> None:
        obj = self.objects[kind][oid]
        obj["properties"].update({k: ("" if v is None else str(v)) for k, v in props.items()})
        stamp = now_iso()
        obj["properties"][MODIFIED.get(kind, "hs_lastmodifieddate")] = stamp
        obj["updatedAt"] = stamp

    def link(
        self, from_kind: str, from_id: str, to_kind: str, to_id: str, types: list[int] | None = None
    ) -> None:
        """Associate two records; custom objects use their schema's association ids."""
        if types is None:
            types = [self.association_id(from_kind, to_kind)]
        self.links.setdefault((from_kind, to_kind), {}).setdefault(from_id, {})[to_id] = types
        back = self.links.setdefault((to_kind, from_kind), {}).setdefault(to_id, {})
        if from_kind in self.schemas or to_kind in self.schemas:
            back.setdefault(from_id, [self.association_id(to_kind, from_kind)])
        else:
            back.setdefault(from_id, [t + 1 if t % 2 == 0 else t - 1 for t in types])

    def define_object(self, name: str, plural: str, properties: list[str]) -> str:
        """A custom object (POST /crm/v3/schemas): its objectTypeId, associated with companies."""
        number = 7_000_001 + len(self.schemas)
        type_id = f"2-{number}"
        stamp = now_iso()
        self.objects[type_id] = {}
        self.properties[type_id] = CUSTOM_STANDARD + properties
        base = 100 + 2 * len(self.schemas)
        self.schemas[type_id] = {
            "id": str(number),
            "objectTypeId": type_id,
            "fullyQualifiedName": f"p{PORTAL_ID}_{name}",
            "name": name,
            "labels": {"singular": plural.rstrip("s"), "plural": plural},
            "metaType": "PORTAL_SPECIFIC",
            "primaryDisplayProperty": properties[0],
            "requiredProperties": [properties[0]],
            "searchableProperties": [properties[0]],
            "secondaryDisplayProperties": [],
            "archived": False,
            "createdAt": stamp,
            "updatedAt": stamp,
            "properties": [self._property(type_id, n) for n in properties],
            "associations": [
                {
                    "id": str(base),
                    "fromObjectTypeId": type_id,
                    "toObjectTypeId": "0-2",
                    "name": f"{name}_to_company",
                },
                {
                    "id": str(base + 1),
                    "fromObjectTypeId": "0-2",
                    "toObjectTypeId": type_id,
                    "name": f"company_to_{name}",
                },
            ],
        }
        return type_id

    def association_id(self, from_kind: str, to_kind: str) -> int:
        """The USER_DEFINED association type id a custom object's schema gives one direction."""
        custom = from_kind if from_kind in self.schemas else to_kind
        ids = {"companies": "0-2"}
        for a in self.schemas[custom]["associations"]:
            if a["fromObjectTypeId"] == ids.get(from_kind, from_kind) and a["toObjectTypeId"] == ids.get(
                to_kind, to_kind
            ):
                return int(a["id"])
        raise KeyError(f"no association between {from_kind} and {to_kind}")

    def kind_of(self, name: str) -> str | None:
        """The object type a path names: a standard name, or a custom object by any accepted name."""
        if name in TYPES:
            return name
        for type_id, schema in self.schemas.items():
            names = {type_id, schema["fullyQualifiedName"], f"p_{schema['name']}"}
            if name.casefold() in {n.casefold() for n in names}:
                return type_id
        return None

    def _property(self, kind: str, name: str) -> dict[str, Any]:
        """A property definition as GET /crm/v3/properties/{objectType} gives it."""
        standard = name in STANDARD.get(kind, []) or name in CUSTOM_STANDARD
        defined = self.definitions.get((kind, name)) or (
            {"type": "number", "fieldType": "number"} if standard and name in NUMBERS else {})
        return {
            "name": name,
            "label": name.replace("_", " ").title(),
            "type": defined.get("type", "string"),
            "fieldType": defined.get("fieldType", "text"),
            "description": "",
            "groupName": f"{kind}_information",
            "options": defined.get("options", []),
            "displayOrder": -1,
            "calculated": defined.get("calculated", False),
            "externalOptions": False,
            "hasUniqueValue": False,
            "hidden": False,
            "hubspotDefined": standard,
            "modificationMetadata": {
                "archivable": True,
                "readOnlyDefinition": False,
                "readOnlyValue": defined.get("readOnlyValue", False),
            },
            "formField": True,
            "archived": False,
        }

    def define_property(self, kind: str, name: str, type_: str = "string", field_type: str = "text",
                        options: list[str] | None = None, **meta: Any) -> None:
        """A property created in Settings > Properties (e.g. a Number `kam_health`); `meta`:
        calculated=True, readOnlyValue=True."""
        if name not in self.properties[kind]:
            self.properties[kind] = [*self.properties[kind], name]
        self.definitions[(kind, name)] = {
            "type": type_, "fieldType": field_type, **meta,
            "options": [{"label": o.title(), "value": o, "displayOrder": i, "hidden": False}
                        for i, o in enumerate(options or [])],
        }

    def load_portfolio(
        self, records: dict[str, list[dict[str, Any]]], custom: tuple[str, ...] = ()
    ) -> dict[str, dict[str, str]]:
        """The canonical demo portfolio as HubSpot objects (see `hubspot_data.load_portfolio`)."""
        return load_portfolio(self, records, custom)

    def tasks(self) -> list[dict[str, Any]]:
        return list(self.objects["tasks"].values())

    def backdate(self, seconds: float) -> None:
        """Every record's last modification moved `seconds` into the past (a portal older than the run)."""
        for kind, objs in self.objects.items():
            if kind == "tasks":
                continue
            name = MODIFIED.get(kind, "hs_lastmodifieddate")
            for obj in objs.values():
                stamp = datetime.fromisoformat(obj["properties"][name].replace("Z", "+00:00"))
                old = (stamp - timedelta(seconds=seconds)).isoformat(timespec="milliseconds")
                obj["properties"][name] = obj["updatedAt"] = old.replace("+00:00", "Z")

    def modify_share(self, kinds: tuple[str, ...], share: float, seed: int) -> dict[str, list[str]]:
        """Edit one property of a random `share` of each kind's records (at least one), as users would.

        Deterministic for a seed and portal; every edit stamps the record's modification date.
        Returns the edited ids by kind.
        """
        rng = random.Random(seed)
        edited: dict[str, list[str]] = {}
        for kind in kinds:
            ids = sorted(self.objects[kind], key=int)
            if not ids:
                continue
            chosen = sorted(rng.sample(ids, max(1, round(len(ids) * share))), key=int)
            for oid in chosen:
                self.update(kind, oid, user_edit(kind, self.objects[kind][oid]["properties"], rng))
            edited[kind] = chosen
        return edited

    def complete_task(self, oid: str, day: str) -> None:
        """What an account manager does by hand in HubSpot."""
        self.update("tasks", oid, {"hs_task_status": "COMPLETED", "hs_task_completion_date": day_stamp(day)})

    # --- HTTP ----------------------------------------------------------------------------------

    def handle(self, req: BaseHTTPRequestHandler, method: str) -> None:
        url = urlparse(req.path)
        length = int(req.headers.get("Content-Length") or 0)
        raw = req.rfile.read(length) if length else b""
        with self.lock:
            status, body, headers = self.route(
                method, url.path, parse_qs(url.query), raw, req.headers.get("Authorization", "")
            )
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()  # str: as it is
        req.send_response(status)
        req.send_header("Content-Type", "application/json;charset=utf-8")
        req.send_header("Content-Length", str(len(data)))
        for k, v in headers.items():
            req.send_header(k, v)
        req.end_headers()
        req.wfile.write(data)

    def route(
        self, method: str, path: str, query: dict[str, list[str]], raw: bytes, auth: str
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        endpoint = self._endpoint(method, path)
        self.calls[endpoint] += 1
        if auth != f"Bearer {self.token}":
            return (
                401,
                error_body(
                    "Authentication credentials not found. This API supports OAuth 2.0"
                    " authentication and you can find more details at"
                    " https://developers.hubspot.com/docs/methods/auth/oauth-overview",
                    "INVALID_AUTHENTICATION",
                ),
                {},
            )
        now = time.monotonic()
        if self.daily_after is None and endpoint == self.daily_after_first:
            self.daily_after = sum(self.calls.values())
        if self.daily_after is not None and sum(self.calls.values()) > self.daily_after:
            self.refused["DAILY"] += 1
            return 429, rate_limited("daily", "DAILY", group="api"), {}
        while self.arrivals and self.arrivals[0] <= now - self.window:
            self.arrivals.popleft()
        if len(self.arrivals) >= self.budget:
            self.refused["TEN_SECONDLY_ROLLING"] += 1
            body = rate_limited("ten_secondly_rolling", "TEN_SECONDLY_ROLLING",
                                group="publicapi:private-app")
            return 429, body, {"Retry-After": self.retry_after}
        self.arrivals.append(now)
        self.max_in_window = max(self.max_in_window, len(self.arrivals))
        if path.endswith("/search"):
            while self.search_arrivals and self.search_arrivals[0] <= now - self.search_window:
                self.search_arrivals.popleft()
            if len(self.search_arrivals) >= self.search_budget:
                self.refused["SECONDLY"] += 1
                return 429, rate_limited("secondly", "SECONDLY"), {"Retry-After": self.retry_after}
            self.search_arrivals.append(now)
        for i, (prefix, status, body) in enumerate(self.failures):
            if endpoint.startswith(prefix):
                del self.failures[i]
                return status, body, {}
        try:
            payload = json.loads(raw) if raw else {}
        except ValueError:
            return 400, error_body("Invalid input JSON", "VALIDATION_ERROR"), {}
        answer = self.dispatch(method, path.strip("/").split("/"), query, payload)
        for i, (prefix, status) in enumerate(self.failures_after):
            if endpoint.startswith(prefix):
                del self.failures_after[i]
                return status, error_body("The upstream server timed out", "GATEWAY_TIMEOUT"), {}
        return answer

    @staticmethod
    def _endpoint(method: str, path: str) -> str:
        parts = path.strip("/").split("/")
        if len(parts) == 6 and parts[:2] == ["crm", "v4"] and parts[2] == "objects":
            parts[4] = "{id}"
        return f"{method} /{'/'.join(parts)}"

    def dispatch(
        self, method: str, parts: list[str], query: dict[str, list[str]], payload: dict[str, Any]
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        if parts in (["crm-object-schemas", "v3", "schemas"], ["crm", "v3", "schemas"]) and method == "GET":
            return 200, {"results": list(self.schemas.values())}, {}
        if parts[:3] in (
            ["crm", "v3", "objects"],
            ["crm", "v3", "properties"],
            ["crm", "v4", "associations"],
        ):
            named = parts[3:5] if parts[1] == "v4" else parts[3:4]
            kinds = [self.kind_of(n) for n in named]
            unknown = next((n for n, k in zip(named, kinds, strict=True) if k is None), None)
            if unknown is not None:
                return 400, error_body(f"Unable to infer object type from: {unknown}", "VALIDATION_ERROR"), {}
            parts = [*parts[:3], *[k for k in kinds if k], *parts[3 + len(named) :]]
        if parts[:3] == ["crm", "v3", "objects"] and len(parts) == 4 and method == "GET":
            return self.list_page(parts[3], query)
        if parts[:3] == ["crm", "v3", "objects"] and len(parts) == 6 and parts[4] == "batch":
            return {"read": self.batch_read, "create": self.batch_create, "update": self.batch_update}[
                parts[5]
            ](parts[3], payload)
        if parts[:3] == ["crm", "v3", "objects"] and len(parts) == 5 and parts[4] == "search":
            return self.search(parts[3], payload)
        if parts[:3] == ["crm", "v4", "associations"] and parts[5:] == ["batch", "read"]:
            return self.assoc_read(parts[3], parts[4], payload)
        if parts == ["crm", "v3", "owners"]:
            return self.page(self.owners, query, 500)
        if parts[:3] == ["crm", "v3", "properties"]:
            return 200, {"results": [self._property(parts[3], n) for n in self.properties[parts[3]]]}, {}
        if parts[:3] == ["crm", "v3", "pipelines"]:
            return 200, self.pipelines(parts[3]), {}
        return 404, error_body(f"Unknown endpoint {'/'.join(parts)}", "OBJECT_NOT_FOUND"), {}


RELATED = ("contacts", "deals", "meetings", "calls", "emails", "notes", "tickets")
ENGAGEMENT_TYPES = ("meetings", "calls", "emails", "notes")
# HubSpot's largest page and batch sizes (developers.hubspot.com), independent of the connector's own.
LIST_PAGE, BATCH, ASSOC_BATCH, SEARCH_PAGE, OWNER_PAGE = 100, 100, 1000, 200, 500


def linked_ids(fake: FakeHubSpot, custom: tuple[str, ...] = ()) -> dict[str, set[str]]:
    """Per related type (and custom object type read), the ids of the records associated with some company."""
    return {
        t: {o for c in fake.links.get(("companies", t), {}).values() for o in c} for t in (*RELATED, *custom)
    }


def minimal_calls(
    fake: FakeHubSpot,
    created: int,
    tasks_before: int = 0,
    *,
    updated: int = 0,
    changed: dict[str, int] | None = None,
    uncached: dict[str, int] | None = None,
    custom: tuple[str, ...] = (),
) -> dict[str, int]:
    """The fewest calls a run can make at HubSpot's largest page and batch sizes, by step.

    A full run (`changed` None) lists the companies and batch-reads every associated record. An
    incremental run instead searches each type for its `changed` records (one page of 200 even
    when nothing changed) and batch-reads only the `uncached` ones: records newly associated with
    a company that neither the cache nor the search delta holds. Both read every company's
    associations and every engagement's contacts: HubSpot has no association change feed (v4
    association reads take no date filter, and an association change does not in general touch
    either record's modification date), so a run that keeps accounts whole must re-read them.
    Both read the metadata (8 property lists, 2 pipelines, owners by 500), read back every task
    in the portal (list pages of 100: the list is consistent where search lags) and write
    `created` and `updated` (updates and closes) tasks in batches of 100. `custom` custom object
    types (plans, surveys, contracts) are read like related types, after one schemas call and
    their property lists; with none, nothing changes.
    """

    def up(n: int, size: int) -> int:
        return -(-n // size)

    companies = len(fake.objects["companies"])
    kinds = (*RELATED, *custom)
    linked = {t: len(ids) for t, ids in linked_ids(fake, custom).items()}
    metadata = len(kinds) + 1 + 2 + up(len(fake.owners), OWNER_PAGE)  # property lists, pipelines
    metadata += 1 if custom else 0  # the schemas, to resolve the mapping's custom objects
    steps = {"metadata (properties, pipelines, owners)": metadata}
    if changed is None:
        steps["company pages (100)"] = up(companies, LIST_PAGE)
    else:
        steps["search pages (200)"] = sum(
            max(1, up(changed.get(t, 0), SEARCH_PAGE)) for t in ("companies", *kinds)
        )
    steps["company associations (1,000)"] = len(kinds) * up(companies, ASSOC_BATCH)
    reads = linked if changed is None else (uncached or {})
    steps["batch reads (100)"] = sum(up(n, BATCH) for n in reads.values())
    steps["engagement-contact associations (1,000)"] = sum(
        up(linked[t], ASSOC_BATCH) for t in ENGAGEMENT_TYPES
    )
    steps["task list pages (100)"] = max(1, up(tasks_before, LIST_PAGE))
    steps["task batch creates (100)"] = up(created, BATCH)
    steps["task batch updates (100)"] = up(updated, BATCH)
    return steps
