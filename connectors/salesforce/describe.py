"""What describe calls told about an org: each object's fields, lookups and child relationships,
and the relationship paths (`Owner.Manager.Name`) a mapping may read through them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

MAX_HOPS = 5  # SOQL reads a parent's field at most five relationships up (`A.B.C.D.E.Field`)
# field types whose values are numbers: JSON numbers from SOQL, but text in Bulk API CSV
NUMBER_TYPES = frozenset({"double", "currency", "percent", "int", "long"})


def too_deep(path: str) -> bool:
    """A relationship path longer than SOQL reads (refused before it is queried)."""
    return path.count(".") > MAX_HOPS


class Describe:
    """What describe calls told about the org: each object's fields and child relationships."""

    def __init__(self, objects: dict[str, dict[str, Any] | None]):
        self.fields = {name: {f["name"] for f in d.get("fields", [])}
                       for name, d in objects.items() if d is not None}
        self.numbers = {name: {f["name"] for f in d.get("fields", []) if f.get("type") in NUMBER_TYPES}
                        for name, d in objects.items() if d is not None}
        self.children = {name: {c["relationshipName"]: c["childSObject"]
                                for c in d.get("childRelationships", []) if c.get("relationshipName")}
                         for name, d in objects.items() if d is not None}
        self.links = {name: {c["relationshipName"]: c.get("field")
                             for c in d.get("childRelationships", []) if c.get("relationshipName")}
                      for name, d in objects.items() if d is not None}
        # lookups: relationship name -> (the field holding the id, the object it refers to)
        self.parents = {name: {f["relationshipName"]: (f["name"], (f.get("referenceTo") or [None])[0])
                               for f in d.get("fields", []) if f.get("relationshipName")}
                        for name, d in objects.items() if d is not None}

    def add(self, objects: dict[str, dict[str, Any] | None]) -> None:
        """Describe results of more objects (the parents that relationship fields reach)."""
        more = Describe(objects)
        for attr in ("fields", "numbers", "children", "links", "parents"):
            getattr(self, attr).update(getattr(more, attr))

    def parent(self, obj: str, relationship: str) -> str | None:
        """The object a relationship name of `obj` (`Opportunity` on OpportunityContactRole) reaches."""
        return self.parents.get(obj, {}).get(relationship, (None, None))[1]

    def relationship_of(self, obj: str, field: str) -> str | None:
        """The relationship name of a lookup field (`AccountId` -> `Account`)."""
        return next((rel for rel, (name, _) in self.parents.get(obj, {}).items() if name == field), None)

    def reach(self, obj: str, field: str) -> tuple[str | None, str]:
        """(the object a `Rel.Rel.Field` path's last lookup reaches, the field's own name);
        None when a relationship on the way is unknown (or its object not described yet)."""
        *rels, name = field.split(".")
        target: str | None = obj
        for rel in rels[:MAX_HOPS + 1]:  # a longer path is refused (too_deep) before it is read
            target = self.parent(target, rel) if target is not None else None
        return target, name

    def people(self, obj: str) -> Callable[[str], bool]:
        """Whether a field of `obj` (or a `Rel.Field` path) holds text people typed: any but the
        number fields, whose values Bulk API CSV sends as text too (`1234.567` is no German
        thousands)."""
        def typed_by_people(field: str) -> bool:
            target, name = self.reach(obj, field)
            return target is None or name not in self.numbers.get(target, set())
        return typed_by_people

    def has(self, obj: str, field: str) -> bool:
        """A field of `obj`, or `Relationship.Field` up to MAX_HOPS lookups away."""
        target, name = self.reach(obj, field)
        return target is not None and not too_deep(field) and name in self.fields.get(target, set())
