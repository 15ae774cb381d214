"""Reading HubSpot in as few calls as its limits allow: list pages of 100, v4 association batch
reads of 1,000 ids, batch reads of 100 objects, and search (200 a page, 10,000 a query) only for
incremental pulls, partitioned by modification date.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from kamrules.connectors.cursors import Cursors
from kamrules.connectors.hubspot.http import HubSpotApi, HubSpotError

PAGE = 100
BATCH_READ = 100
ASSOC_BATCH = 1000
OWNER_PAGE = 500
SEARCH_PAGE = 200
SEARCH_CAP = 10_000
Row = dict[str, Any]


def chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _results(body: dict[str, Any], what: str) -> list[dict[str, Any]]:
    """The `results` of a read's answer, each an object. An answer without them is HubSpot (or a
    proxy) failing, never "none": read as none, the records missing would look deleted and their
    tasks close."""
    results = body.get("results")
    if not isinstance(results, list):
        raise HubSpotError(f"HubSpot answered a read of {what} without its results"
                           f" ({', '.join(sorted(body)) or 'an empty answer'})")
    if not all(isinstance(r, dict) for r in results):
        raise HubSpotError(f"HubSpot answered a read of {what} with results that are not objects")
    return results


def objects_of(value: Any) -> list[dict[str, Any]]:
    """The objects of an answer's list (`results`, `errors`); a single object counts as a list of
    one, and anything else (null, text, numbers) as nothing: an answer is never a Python error."""
    items = value if isinstance(value, list) else [value]
    return [v for v in items if isinstance(v, dict)]


def _keyed(rows: list[Row], what: str) -> list[Row]:
    """Records that each have an id: one without would be keyed "" and merged with the others
    like it, silently (task rows are read on their own terms, task_rows.py)."""
    if any(not row["id"] for row in rows):
        raise HubSpotError(f"HubSpot answered a read of {what} with a record without an id")
    return rows


def _after(body: dict[str, Any], found: int, seen: Cursors, what: str) -> str | None:
    """The cursor of the next page (`paging.next.after`), None on the last; paging of another
    shape, or paging that would never end (a cursor met before, fresh cursors to pages of no
    results: `found` is this page's; kamrules/connectors/cursors.py), is a HubSpotError."""
    paging = body.get("paging")
    step = paging.get("next") if isinstance(paging, dict) else paging
    if paging is None or (isinstance(paging, dict) and step is None):
        return None  # the last page
    after = step.get("after") if isinstance(step, dict) else None
    if not isinstance(after, str | int) or isinstance(after, bool):
        raise HubSpotError(f"HubSpot answered a read of {what} with paging that is not"
                           f" {{next: {{after}}}} ({str(paging)[:120]})")
    after = str(after)
    problem = seen.follow(after, found)
    if problem:
        raise HubSpotError(f"HubSpot answered a read of {what} with the paging cursor {problem}")
    return after or None


def _link(item: dict[str, Any], what: str) -> tuple[str, list[int]]:
    """(to id, association type ids) of one v4 association; another shape is a HubSpotError."""
    target, types = item.get("toObjectId"), item.get("associationTypes") or []
    try:
        if not isinstance(target, str | int) or not isinstance(types, list):
            raise TypeError
        return str(target), [int(a.get("typeId", 0)) for a in types]
    except (TypeError, ValueError, AttributeError):
        raise HubSpotError(f"HubSpot answered {what} with an association that is not"
                           f" {{toObjectId, associationTypes: [{{typeId}}]}} ({str(item)[:120]})") from None


def _slim(row: Row) -> Row:
    """A row's id and properties; a row HubSpot sent without them reads as empty, never raises."""
    if not isinstance(row, dict):
        return {"id": "", "properties": {}}
    props = row.get("properties")
    return {"id": str(row.get("id") or ""), "properties": props if isinstance(props, dict) else {}}


class Reader:
    """The read calls the connector makes, each through `HubSpotApi.call`."""

    def __init__(self, api: HubSpotApi):
        self.api = api
        self.crm = api.client.crm
        self.definitions: dict[str, list[dict[str, Any]]] = {}  # the last property list of each type

    def each(self, object_type: str, properties: list[str]) -> Iterator[Row]:
        """Every record of a type through the list endpoint, a page of 100 a call."""
        after: str | None = None
        seen = Cursors()
        while True:
            kwargs: dict[str, Any] = {"limit": PAGE, "properties": properties, "archived": False}
            if after:
                kwargs["after"] = after
            _, body = self.api.call(
                f"GET /crm/v3/objects/{object_type}",
                self.crm.objects.basic_api.get_page,
                object_type,
                **kwargs,
            )
            page = _results(body, object_type)
            yield from (_slim(r) for r in page)
            after = _after(body, len(page), seen, object_type)
            if not after:
                return

    def list_all(self, object_type: str, properties: list[str]) -> list[Row]:
        return _keyed(list(self.each(object_type, properties)), object_type)

    def batch_read(self, object_type: str, ids: list[str], properties: list[str]) -> list[Row]:
        rows: list[Row] = []
        for part in chunks(ids, BATCH_READ):
            _, body = self.api.call(
                f"POST /crm/v3/objects/{object_type}/batch/read",
                self.crm.objects.batch_api.read,
                object_type,
                {"inputs": [{"id": i} for i in part], "properties": properties, "propertiesWithHistory": []},
                archived=False,
            )
            rows += [_slim(r) for r in _results(body, object_type)]
        return _keyed(rows, object_type)

    def associations(
        self, from_type: str, to_type: str, ids: list[str]
    ) -> dict[str, list[tuple[str, list[int]]]]:
        """from id -> [(to id, association type ids)] through the v4 batch read."""
        out: dict[str, list[tuple[str, list[int]]]] = {}
        for part in chunks(ids, ASSOC_BATCH):
            _, body = self.api.call(
                f"POST /crm/v4/associations/{from_type}/{to_type}/batch/read",
                self.crm.associations.v4.batch_api.get_page,
                from_type,
                to_type,
                {"inputs": [{"id": i} for i in part]},
            )
            what = f"{from_type}-{to_type} associations"
            for result in _results(body, what):
                origin = result.get("from")
                source = origin.get("id") if isinstance(origin, dict) else None
                found = result.get("to", [])
                if not isinstance(source, str | int) or not isinstance(found, list) \
                        or not all(isinstance(t, dict) for t in found):
                    raise HubSpotError(f"HubSpot answered {what} with a result that is not"
                                       f" {{from: {{id}}, to: [...]}} ({str(result)[:120]})")
                source = str(source)
                links = out.setdefault(source, [])
                links += [_link(t, what) for t in found]
                seen = Cursors()
                after = _after(result, len(found), seen, what)
                while after:  # more than one page of associations for this record
                    _, more = self.api.call(
                        f"GET /crm/v4/objects/{from_type}/{{id}}/associations/{to_type}",
                        self.crm.associations.v4.basic_api.get_page,
                        from_type,
                        source,
                        to_type,
                        after=after,
                        limit=500,
                    )
                    page = _results(more, what)
                    links += [_link(t, what) for t in page]
                    after = _after(more, len(page), seen, what)
        return out

    def owners(self) -> list[Row]:
        rows: list[Row] = []
        after: str | None = None
        seen = Cursors()
        while True:
            kwargs: dict[str, Any] = {"limit": OWNER_PAGE, "archived": False}
            if after:
                kwargs["after"] = after
            _, body = self.api.call("GET /crm/v3/owners", self.crm.owners.owners_api.get_page, **kwargs)
            page = _results(body, "owners")
            rows += page
            after = _after(body, len(page), seen, "owners")
            if not after:
                return rows

    def property_names(self, object_type: str) -> list[str]:
        _, body = self.api.call(
            f"GET /crm/v3/properties/{object_type}",
            self.crm.properties.core_api.get_all,
            object_type,
            archived=False,
        )
        self.definitions[object_type] = list(_results(body, f"{object_type} properties"))
        return [p["name"] for p in self.definitions[object_type] if isinstance(p.get("name"), str)]

    def schemas(self) -> list[dict[str, Any]]:
        """The portal's custom object definitions (GET /crm-object-schemas/v3/schemas, one call)."""
        _, body = self.api.call(
            "GET /crm-object-schemas/v3/schemas", self.crm.schemas.core_api.get_all, archived=False
        )
        return list(_results(body, "custom object schemas"))

    def pipelines(self, object_type: str) -> dict[str, Any]:
        _, body = self.api.call(
            f"GET /crm/v3/pipelines/{object_type}", self.crm.pipelines.pipelines_api.get_all, object_type
        )
        for pipeline in _results(body, f"{object_type} pipelines"):
            stages = pipeline.get("stages", [])
            if not isinstance(pipeline.get("id"), str | int) or not isinstance(stages, list) or not all(
                    isinstance(s, dict) and isinstance(s.get("id"), str | int) for s in stages):
                raise HubSpotError(f"HubSpot answered a read of {object_type} pipelines with a"
                                   f" pipeline that is not {{id, stages: [{{id}}]}} ({str(pipeline)[:120]})")
        return body

    def modified_since(
        self, object_type: str, modified: str, since: datetime, properties: list[str]
    ) -> list[Row]:
        """Rows modified at or after `since`, by search; a window past 10,000 results is cut by date."""
        rows: dict[str, Row] = {}
        floor = int(since.timestamp() * 1000)
        while True:
            after, seen, last, cursors = None, 0, floor, Cursors()
            while True:
                request: dict[str, Any] = {
                    "filterGroups": [
                        {"filters": [{"propertyName": modified, "operator": "GTE", "value": str(floor)}]}
                    ],
                    "sorts": [{"propertyName": modified, "direction": "ASCENDING"}],
                    "properties": sorted(set(properties) | {modified}),
                    "limit": SEARCH_PAGE,
                }
                if after:
                    request["after"] = after
                _, body = self.api.call(
                    f"POST /crm/v3/objects/{object_type}/search",
                    self.crm.objects.search_api.do_search,
                    object_type,
                    request,
                    search=True,
                )
                found = _results(body, f"{object_type} search")
                for row in map(_slim, found):
                    rows[row["id"]] = row
                    last = _millis(row["properties"].get(modified)) or last
                seen += len(found)
                after = _after(body, len(found), cursors, f"{object_type} search")
                if not after:
                    return _keyed(list(rows.values()), object_type)
                if seen + SEARCH_PAGE > SEARCH_CAP:
                    break  # the next page would pass the cap: start a new query from here
            if last <= floor:  # >10,000 rows share one timestamp: nothing more to gain
                return _keyed(list(rows.values()), object_type)
            floor = last


def _millis(value: Any) -> int | None:
    if value is None or value == "":
        return None
    text = str(value)
    if text.isdigit():
        return int(text)
    try:
        return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)
    except ValueError:
        return None
