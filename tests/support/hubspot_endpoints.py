"""The fake HubSpot's endpoint handlers: list pages, batch read/create/update, v4 association
batch reads, search and pipelines, each answering with HubSpot's documented shapes (string
values, `paging.next.after`, 207 with per-record errors, the 10,000-result search cap).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from tests.support.hubspot_data import DEAL_STAGES, MODIFIED, TICKET_STAGES, error_body, now_iso

Answer = tuple[int, dict[str, Any], dict[str, str]]


class Endpoints:
    """The handlers, over the portal state `FakeHubSpot` keeps."""

    objects: dict[str, dict[str, dict[str, Any]]]
    links: dict[tuple[str, str], dict[str, dict[str, list[int]]]]
    properties: dict[str, list[str]]
    schemas: dict[str, dict[str, Any]]
    definitions: dict[tuple[str, str], dict[str, Any]]
    reject_create: Callable[[dict[str, Any]], str | None] | None
    writes: int

    add: Callable[..., str]
    update: Callable[..., None]
    link: Callable[..., None]

    def page(self, items: list[dict[str, Any]], query: dict[str, list[str]], cap: int) -> Answer:
        limit = int((query.get("limit") or ["10"])[0])
        if limit > cap:
            return 400, error_body(f"limit must be at most {cap}", "VALIDATION_ERROR"), {}
        start = int((query.get("after") or ["0"])[0])
        body: dict[str, Any] = {"results": items[start : start + limit]}
        if start + limit < len(items):
            body["paging"] = {"next": {"after": str(start + limit), "link": "?after=" + str(start + limit)}}
        return 200, body, {}

    def _view(self, kind: str, obj: dict[str, Any], props: list[str]) -> dict[str, Any]:
        if not isinstance(obj.get("properties"), dict):
            return obj  # a record a test damaged on purpose: served as it is
        wanted = set(props) | {"hs_object_id", "createdate", MODIFIED.get(kind, "hs_lastmodifieddate")}
        known = set(self.properties.get(kind, []))
        shown = {p: obj["properties"].get(p) or None for p in wanted if p in known or p in obj["properties"]}
        return {**obj, "properties": shown}

    def _props(self, query: dict[str, list[str]]) -> list[str]:
        return [p for v in query.get("properties", []) for p in v.split(",") if p]

    def list_page(self, kind: str, query: dict[str, list[str]]) -> Answer:
        props = self._props(query)
        objs = [
            self._view(kind, o, props) for _, o in sorted(self.objects[kind].items(), key=lambda i: int(i[0]))
        ]
        return self.page(objs, query, 100)

    def batch_read(self, kind: str, payload: dict[str, Any]) -> Answer:
        inputs = payload.get("inputs", [])
        if len(inputs) > 100:
            return 400, error_body("Batch input must be at most 100 items", "VALIDATION_ERROR"), {}
        results, missing = [], []
        for item in inputs:
            obj = self.objects[kind].get(str(item["id"]))
            if obj is None:
                missing.append(str(item["id"]))
            else:
                results.append(self._view(kind, obj, payload.get("properties") or []))
        body = self._batch_body(results)
        if missing:
            body["errors"] = [
                {
                    "status": "error",
                    "category": "OBJECT_NOT_FOUND",
                    "message": "Could not get some objects, they may be deleted or not exist.",
                    "context": {"ids": missing},
                }
            ]
            body["numErrors"] = 1
            return 207, body, {}
        return 200, body, {}

    @staticmethod
    def _batch_body(results: list[dict[str, Any]]) -> dict[str, Any]:
        stamp = now_iso()
        return {"status": "COMPLETE", "results": results, "startedAt": stamp, "completedAt": stamp}

    def batch_create(self, kind: str, payload: dict[str, Any]) -> Answer:
        inputs = payload.get("inputs", [])
        if len(inputs) > 100:
            return 400, error_body("Batch input must be at most 100 items", "VALIDATION_ERROR"), {}
        results, errors = [], []
        for item in inputs:
            props = item.get("properties") or {}
            problem = self.reject_create(props) if self.reject_create else None
            if kind == "tasks" and not props.get("hs_timestamp"):
                problem = "Property values were not valid: hs_timestamp is required"
            targets = [(a["to"]["id"], a["types"]) for a in item.get("associations", [])]
            for to_id, types in targets:
                if (
                    not any(t.get("associationTypeId") == 192 for t in types)
                    or str(to_id) not in self.objects["companies"]
                ):
                    problem = f"association to company {to_id} is not valid"
            if problem:
                errors.append(
                    {
                        "status": "error",
                        "category": "VALIDATION_ERROR",
                        "message": problem,
                        "context": {"properties": sorted(props)[:3]},
                    }
                )
                continue
            oid = self.add(kind, props)
            for to_id, _ in targets:
                self.link(kind, oid, "companies", str(to_id), [192])
            results.append(self._view(kind, self.objects[kind][oid], list(props)))
        self.writes += 1
        body = self._batch_body(results)
        if errors:
            body.update(errors=errors, numErrors=len(errors))
            return 207, body, {}
        return 201, body, {}

    def batch_update(self, kind: str, payload: dict[str, Any]) -> Answer:
        inputs = payload.get("inputs", [])
        if len(inputs) > 100:
            return 400, error_body("Batch input must be at most 100 items", "VALIDATION_ERROR"), {}
        if len({str(i.get("id")) for i in inputs}) < len(inputs):
            return 400, error_body("Duplicate IDs found in batch input", "VALIDATION_ERROR"), {}
        invalid = [e for item in inputs for e in self._invalid(kind, item.get("properties") or {})]
        if invalid:  # HubSpot refuses the whole batch, listing each bad value
            return 400, error_body(f"Property values were not valid: {json.dumps(invalid)}",
                                   "VALIDATION_ERROR"), {}
        results, missing = [], []
        for item in inputs:
            oid = str(item["id"])
            if oid not in self.objects[kind]:
                missing.append(oid)
                continue
            props = dict(item.get("properties") or {})
            if props.get("hs_task_status") == "COMPLETED" and not props.get("hs_task_completion_date"):
                props["hs_task_completion_date"] = now_iso()
            self.update(kind, oid, props)
            results.append(self._view(kind, self.objects[kind][oid], list(props)))
        self.writes += 1
        body = self._batch_body(results)
        if missing:
            body.update(
                numErrors=1,
                errors=[
                    {
                        "status": "error",
                        "category": "OBJECT_NOT_FOUND",
                        "message": "resource not found",
                        "context": {"ids": missing},
                    }
                ],
            )
            return 207, body, {}
        return 200, body, {}

    def _invalid(self, kind: str, props: dict[str, Any]) -> list[dict[str, Any]]:
        """HubSpot's per-value validation of a write (checked for the types properties define)."""
        out = []
        for name, value in props.items():
            defined = self.definitions.get((kind, name))
            problem = None
            if name not in self.properties.get(kind, []):
                problem = ("PROPERTY_DOESNT_EXIST", f'Property "{name}" does not exist')
            elif defined is None:
                continue
            elif defined.get("readOnlyValue") or defined.get("calculated"):
                problem = ("READ_ONLY_VALUE", f'"{name}" is a read only property; its value cannot be set.')
            elif value not in (None, "") and defined["type"] == "number":
                try:
                    float(value)
                except (TypeError, ValueError):
                    problem = ("INVALID_FLOAT", f"{value!r} is not a valid number")
            elif value not in (None, "") and defined["type"] == "enumeration":
                if str(value) not in {o["value"] for o in defined["options"]}:
                    problem = ("INVALID_OPTION", f"{value!r} was not one of the allowed options")
            elif value not in (None, "") and defined["type"] == "date":
                try:
                    datetime.strptime(str(value), "%Y-%m-%d")
                except ValueError:
                    problem = ("INVALID_DATE", f"{value!r} is not a valid date")
            if problem:
                out.append({"isValid": False, "message": problem[1], "error": problem[0], "name": name,
                            "localizedErrorMessage": problem[1]})
        return out

    def assoc_read(self, from_kind: str, to_kind: str, payload: dict[str, Any]) -> Answer:
        inputs = payload.get("inputs", [])
        if len(inputs) > 1000:
            return 400, error_body("Batch input must be at most 1000 items", "VALIDATION_ERROR"), {}
        links = self.links.get((from_kind, to_kind), {})
        custom = from_kind in self.schemas or to_kind in self.schemas
        results, errors = [], []
        for item in inputs:
            fid = str(item["id"])
            if not links.get(fid):
                errors.append(
                    {
                        "status": "error",
                        "category": "OBJECT_NOT_FOUND",
                        "subCategory": "crm.associations.NO_ASSOCIATIONS_FOUND",
                        "context": {"fromObjectId": [fid], "toObjectType": [to_kind]},
                        "message": f"No {to_kind} is associated with {from_kind} {fid}.",
                    }
                )
                continue
            results.append(
                {
                    "from": {"id": fid},
                    "to": [
                        {
                            "toObjectId": int(tid),
                            "associationTypes": [
                                {
                                    "category": "USER_DEFINED" if custom else "HUBSPOT_DEFINED",
                                    "typeId": t,
                                    "label": "Primary" if t in (1, 2) and not custom else None,
                                }
                                for t in types
                            ],
                        }
                        for tid, types in sorted(links[fid].items(), key=lambda i: int(i[0]))
                    ],
                }
            )
        body = self._batch_body(results)
        if errors:
            body.update(errors=errors, numErrors=len(errors))
            return 207, body, {}
        return 200, body, {}

    def search(self, kind: str, payload: dict[str, Any]) -> Answer:
        limit, after = int(payload.get("limit", 10)), int(payload.get("after") or 0)
        if limit > 200:
            return 400, error_body("limit must be at most 200", "VALIDATION_ERROR"), {}
        if after + limit > 10_000:
            return (
                400,
                error_body(
                    "There was a problem with the request: the search returns at most 10,000"
                    " results (after + limit)",
                    "VALIDATION_ERROR",
                ),
                {},
            )
        rows = list(self.objects[kind].values())
        groups = payload.get("filterGroups") or []
        if groups:
            rows = [r for r in rows if any(all(_matches(r, f) for f in g.get("filters", [])) for g in groups)]
        for sort in reversed(payload.get("sorts") or []):
            name = sort["propertyName"]
            rows.sort(
                key=lambda r, n=name: _sort_key(r["properties"].get(n)),
                reverse=sort.get("direction") == "DESCENDING",
            )
        props = payload.get("properties") or []
        page = [self._view(kind, r, props) for r in rows[after : after + limit]]
        body: dict[str, Any] = {"total": len(rows), "results": page}
        if after + limit < len(rows):
            body["paging"] = {"next": {"after": str(after + limit)}}
        return 200, body, {}

    def pipelines(self, kind: str) -> dict[str, Any]:
        if kind == "deals":
            stages = [
                {
                    "id": sid,
                    "label": label,
                    "displayOrder": i,
                    "archived": False,
                    "metadata": {"isClosed": closed, "probability": prob},
                }
                for i, (sid, label, closed, prob) in enumerate(DEAL_STAGES)
            ]
            return {
                "results": [
                    {
                        "id": "default",
                        "label": "Sales Pipeline",
                        "displayOrder": 0,
                        "archived": False,
                        "stages": stages,
                    }
                ]
            }
        stages = [
            {
                "id": sid,
                "label": label,
                "displayOrder": i,
                "archived": False,
                "metadata": {"ticketState": state, "isClosed": "true" if state == "CLOSED" else "false"},
            }
            for i, (sid, label, state) in enumerate(TICKET_STAGES)
        ]
        return {
            "results": [
                {
                    "id": "0",
                    "label": "Support Pipeline",
                    "displayOrder": 0,
                    "archived": False,
                    "stages": stages,
                }
            ]
        }


def _millis(value: Any) -> float:
    if value in (None, ""):
        return float("-inf")
    text = str(value)
    if text.replace(".", "").isdigit():
        return float(text)
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000


def _sort_key(value: Any) -> tuple[int, Any]:
    try:
        return (0, _millis(value))
    except ValueError:
        return (1, str(value))


def _matches(row: dict[str, Any], f: dict[str, Any]) -> bool:
    value = row["properties"].get(f["propertyName"])
    op = f["operator"]
    if op == "HAS_PROPERTY":
        return value not in (None, "")
    if op == "NOT_HAS_PROPERTY":
        return value in (None, "")
    if op == "EQ":
        return str(value) == str(f.get("value"))
    if op in ("GTE", "GT", "LTE", "LT"):
        a, b = _millis(value), _millis(f.get("value"))
        return {"GTE": a >= b, "GT": a > b, "LTE": a <= b, "LT": a < b}[op]
    if op == "CONTAINS_TOKEN":
        return str(f.get("value", "")).lower() in str(value or "").lower().split()
    raise ValueError(f"operator {op} not supported by the fake")
