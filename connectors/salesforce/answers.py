"""Salesforce's answers checked against the shapes its REST API documents, before anything reads
them: a proxy, a misconfigured org or a cut answer is a `Shape` the client reports as a CRM
failure (exit 4), never a Python error (exit 5), a paging loop, or records silently missing."""

from __future__ import annotations

from typing import Any

from kamrules.connectors.cursors import Cursors

NEXT_PREFIX = "/services/"  # a nextRecordsUrl is a path on the instance, never another host


class Shape(ValueError):
    """An answer that is JSON but not the shape Salesforce documents for the call."""


def _shown(value: Any) -> str:
    """A short description of an unexpected value: an object's keys, else its type."""
    if isinstance(value, dict):
        return ", ".join(sorted(map(str, value)))[:200] or "empty"
    return type(value).__name__


def page(value: Any, seen: Cursors) -> dict[str, Any]:
    """A query page (or a child relationship's block): `records` a list of objects, `totalSize` a
    count, and a `nextRecordsUrl` on the instance whenever `done` is false, its paging one that
    ends (kamrules/connectors/cursors.py)."""
    if not isinstance(value, dict) or not isinstance(value.get("records"), list):
        # never "no records": they would look deleted, and their tasks close
        raise Shape(f"without records ({_shown(value)})")
    bad = next((r for r in value["records"] if not isinstance(r, dict)), value)
    if bad is not value:
        raise Shape(f"a record that is not an object ({_shown(bad)})")
    total = value.get("totalSize", 0)
    if not isinstance(total, int) or isinstance(total, bool) or total < 0:
        raise Shape(f"a totalSize that is not a count ({str(total)[:40]!r})")
    done = value.get("done", "nextRecordsUrl" not in value)
    if not isinstance(done, bool):
        raise Shape(f"a done that is not true or false ({str(done)[:40]!r})")
    if not done:
        url = value.get("nextRecordsUrl")
        if not isinstance(url, str) or not url.startswith(NEXT_PREFIX):
            raise Shape(f"a page that is not the last without a nextRecordsUrl on the instance"
                        f" ({str(url)[:80]!r})")
        problem = seen.follow(url, len(value["records"]))
        if problem:
            raise Shape(f"the nextRecordsUrl {problem}")
    return value


def keyed(rows: list[dict[str, Any]], what: str) -> list[dict[str, Any]]:
    """Rows that each carry an `Id` (a non-empty string): the cache, deletions and tasks key on it."""
    bad = next((r for r in rows if not isinstance(r.get("Id"), str) or not r["Id"]), None)
    if bad is not None:
        raise Shape(f"a {what} record without an Id ({_shown(bad)})")
    return rows


def results(value: Any, creates: bool = False) -> list[dict[str, Any]]:
    """sObject Collections' answer: one object per record; with `creates`, each success names
    its new record's id (without it the task may exist: it is read back, never sent twice)."""
    if not isinstance(value, list) or not all(isinstance(a, dict) for a in value):
        raise Shape(f"a write with something other than a list of results ({_shown(value)})")
    if any(not isinstance(a.get("success"), bool | None) for a in value):
        raise Shape("a write result whose success is not true or false")  # "false" is truthy
    if creates and any(a.get("success") and not (isinstance(a.get("id"), str) and a["id"])
                       for a in value):
        raise Shape("a create with success but no record id")
    return value


def errors_text(answer: dict[str, Any]) -> str:
    """A failed record's errors as `CODE: message (fields)`, whatever shape they came in."""
    errors = answer.get("errors")
    items = errors if isinstance(errors, list) else [errors] if errors else []
    parts = []
    for e in items:
        if not isinstance(e, dict):
            parts.append(str(e)[:300])
            continue
        fields = e.get("fields")
        names = ", ".join(map(str, fields)) if isinstance(fields, list) else str(fields or "")
        parts.append(f"{e.get('statusCode') or 'UNKNOWN'}: {e.get('message') or 'no message'}"
                     + (f" ({names})" if names else ""))
    return "; ".join(parts)


def describe(value: Any, obj: str) -> dict[str, Any]:
    """A describe result: `fields` and `childRelationships` lists of objects, fields named."""
    if not isinstance(value, dict):
        raise Shape(f"a describe of {obj} that is not an object ({_shown(value)})")
    for key in ("fields", "childRelationships"):
        items = value.get(key, [])
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise Shape(f"a describe of {obj} whose {key} is not a list of objects")
    if not all(isinstance(f.get("name"), str) for f in value.get("fields", [])):
        raise Shape(f"a describe of {obj} with a field without a name")
    text = (str, type(None))  # the names describe's readers key on (`connectors/salesforce/describe.py`)
    if not all(isinstance(f.get("relationshipName"), text) and isinstance(f.get("referenceTo") or [], list)
               and all(isinstance(t, str) for t in f.get("referenceTo") or [])
               for f in value.get("fields", [])):
        raise Shape(f"a describe of {obj} with a lookup whose relationshipName or referenceTo is no name")
    if not all(isinstance(c.get("relationshipName"), text) and isinstance(c.get("childSObject"), str)
               for c in value.get("childRelationships", [])):
        raise Shape(f"a describe of {obj} with a child relationship without its childSObject")
    return value


COUNTS = ("length", "precision", "scale", "digits")
FLAGS = ("calculated", "updateable", "restrictedPicklist")


def field(meta: dict[str, Any], where: str) -> dict[str, Any]:
    """A describe field entry whose metadata kamrules judges (health fields): a text `type`,
    counts as counts, flags true or false, `picklistValues` a list of objects, where present
    (a length of "wide" was exit 5, a null one read as a field too short)."""
    if not isinstance(meta.get("type"), str):
        raise Shape(f"a describe of {where} whose type is not text ({str(meta.get('type'))[:40]!r})")
    for key in COUNTS:
        value = meta.get(key, 0)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise Shape(f"a describe of {where} whose {key} is not a count ({str(value)[:40]!r})")
    for key in FLAGS:
        if not isinstance(meta.get(key, False), bool):
            raise Shape(f"a describe of {where} whose {key} is not true or false"
                        f" ({str(meta[key])[:40]!r})")
    values = meta.get("picklistValues", [])
    if not isinstance(values, list) or not all(isinstance(v, dict) for v in values):
        raise Shape(f"a describe of {where} whose picklistValues is not a list of objects")
    return meta


def error_of(body: Any) -> tuple[str | None, str]:
    """(errorCode, message) of an error answer: a list of errors, an object (an OAuth error), or
    anything else; a code that is not text is no code."""
    first = body[0] if isinstance(body, list) and body else body
    if not isinstance(first, dict):
        return None, str(body)[:300]
    code = first.get("errorCode") or first.get("error")
    message = first.get("message") or first.get("error_description") or ""
    return (code if isinstance(code, str) else None), str(message)[:1000]
