"""Custom objects as the source of plans, surveys and contracts: the mapping's names resolved against
the portal's schemas before any data moves, so an unknown object is a clear error, not an empty pull.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any

from kamrules.connectors.hubspot.config import Mapping
from kamrules.errors import KamError

COMPANY_TYPE_ID = "0-2"


@dataclass
class CustomObject:
    """One custom object the mapping reads, with every section it feeds."""

    type_id: str  # objectTypeId, `2-123456`: what every call names it by
    name: str  # as the mapping first names it, for messages
    label: str
    sections: list[str] = field(default_factory=list)
    properties: set[str] = field(default_factory=set)
    modified: str = "hs_lastmodifieddate"
    linked_to_companies: bool = True


def type_id_of(schema: dict[str, Any]) -> str:
    """A schema's objectTypeId (older responses give only the numeric `id`)."""
    return str(schema.get("objectTypeId") or f"2-{schema['id']}")


def aliases(schema: dict[str, Any]) -> set[str]:
    """Every name the CRM API accepts for a custom object, case-folded."""
    names = {type_id_of(schema), str(schema.get("fullyQualifiedName") or "")}
    if schema.get("name"):
        names.add(f"p_{schema['name']}")
    return {n.casefold() for n in names if n}


def resolve(mapping: Mapping, schemas: list[dict[str, Any]], where: str) -> dict[str, CustomObject]:
    """objectTypeId -> the custom object, for each one the mapping names; KamError for unknown names."""
    index = {alias: schema for schema in schemas for alias in aliases(schema)}
    out: dict[str, CustomObject] = {}
    for section, spec in mapping.custom_sources().items():
        name = str(spec.object)
        schema = index.get(name.casefold())
        if schema is None:
            raise KamError(_unknown(section, name, schemas, where))
        type_id = type_id_of(schema)
        obj = out.get(type_id)
        if obj is None:
            labels = schema.get("labels") or {}
            obj = out[type_id] = CustomObject(
                type_id,
                name,
                str(labels.get("plural") or schema.get("name") or type_id),
                modified=spec.modified,
                linked_to_companies=_linked_to_companies(schema, type_id),
            )
        obj.sections.append(section)
        obj.properties |= set(spec.property_names()) | set(mapping.field_properties(section))
    return out


def _linked_to_companies(schema: dict[str, Any], type_id: str) -> bool:
    """Whether the schema defines an association between the object and companies (either way)."""
    return any(
        {str(a.get("fromObjectTypeId")), str(a.get("toObjectTypeId"))} == {type_id, COMPANY_TYPE_ID}
        for a in schema.get("associations") or []
    )


def _unknown(section: str, name: str, schemas: list[dict[str, Any]], where: str) -> str:
    head = f"{where}: {section}.object {name!r} is no custom object of this HubSpot portal"
    if not schemas:
        return head + " (it has none; custom objects need an Enterprise subscription)"
    known = [
        f"p_{s.get('name')} ({type_id_of(s)}, {s.get('fullyQualifiedName')}:"
        f" {(s.get('labels') or {}).get('plural') or s.get('name')})"
        for s in sorted(schemas, key=lambda s: str(s.get("name")))
    ]
    names = [n for s in schemas for n in aliases(s)]
    close = difflib.get_close_matches(name.casefold(), names, n=1, cutoff=0.6)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return (
        f"{head}; its custom objects: {'; '.join(known)}.{hint} Name one by its objectTypeId,"
        " p_<name> or fully qualified name. Nothing was pulled or written."
    )
