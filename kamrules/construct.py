"""Models built from values kamrules made itself: not validated again, one field-name set per class.

Pydantic keeps, per instance, the set of the fields given (`model_fields_set`): 728 bytes for
a model of five fields or more, nearly half of a task. A run over a million accounts builds
about a million tasks, changes and report lines from values it has just made or validated
(rule texts, evidence, ids of validated records), so they are built here: every field given
or defaulted as pydantic would, one set of field names shared by every instance of a class,
and each value set as an attribute, so an instance shares its class's table of field names
instead of a dict of its own (`kamrules.model.construct_compact`: a task 208 bytes instead of
552; pydantic's own `model_construct`, a set and a dict per instance, where that is not right
for the installed pydantic). Nothing in kamrules reads these models' `model_fields_set`; a copy
(`model_copy`) gets a set of its own as usual, and setting a field adds a name the shared set
already holds.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import BaseModel

from kamrules.model import construct_held

M = TypeVar("M", bound=BaseModel)


class _Shape:
    """A model class's fields in order, their defaults and the one shared set of their names."""

    def __init__(self, cls: type[BaseModel]) -> None:
        if cls.__private_attributes__ or cls.model_config.get("extra") == "allow":
            raise TypeError(f"{cls.__name__}: only models without private or extra fields")
        self.names = tuple(cls.model_fields)
        self.every = set(self.names)
        self.defaults: dict[str, Any] = {}
        self.factories: dict[str, Callable[[], Any]] = {}
        for name, field in cls.model_fields.items():
            if field.default_factory is not None:
                self.factories[name] = field.default_factory  # type: ignore[assignment]
            elif not field.is_required():
                self.defaults[name] = field.default


_SHAPES: dict[type[BaseModel], _Shape] = {}


def shape_of(cls: type[BaseModel]) -> _Shape:
    """`cls`'s fields in order (`names`) and the one set of their names its made models share
    (`every`)."""
    shape = _SHAPES.get(cls)
    if shape is None:
        shape = _SHAPES[cls] = _Shape(cls)
    return shape


def made(cls: type[M], **values: Any) -> M:
    """`cls(**values)` for values kamrules made itself, without validating them again and
    with the class's shared set of field names; an unknown or missing field is a TypeError."""
    shape = shape_of(cls)
    if not shape.every.issuperset(values):
        raise TypeError(f"{cls.__name__} has no field {sorted(set(values) - shape.every)[0]!r}")
    data: dict[str, Any] = {}
    for name in shape.names:
        if name in values:
            data[name] = values[name]
        elif name in shape.defaults:
            data[name] = shape.defaults[name]
        elif name in shape.factories:
            data[name] = shape.factories[name]()
        else:
            raise TypeError(f"{cls.__name__} needs {name!r}")
    return construct_held(cls, data, shape.every)  # type: ignore[no-any-return]


def changed(obj: M, **update: Any) -> M:
    """`obj.model_copy(update=update)` built as `made` builds (a shallow copy, as model_copy
    makes): `obj` holds every field already, so only the update's names are checked."""
    cls = type(obj)
    shape = shape_of(cls)
    data = {**obj.__dict__, **update}
    if len(data) != len(shape.names) or not shape.every.issuperset(update):
        return made(cls, **data)  # an unknown field, or one obj lacks: made says which
    return construct_held(cls, data, shape.every)  # type: ignore[no-any-return]
