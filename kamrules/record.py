"""The canonical record kinds' base: slots dataclasses that pydantic validates (issue #18).

A run pulls about ten records per account and lets them go chunk by chunk. As pydantic models
each is an object, a dict of its values and three slots of pydantic's: building and freeing an
activity read from the local CRM cost 1.33 us, against 0.88 us as a slots dataclass
(bench/RESULTS.md, eleventh pass). Validation is pydantic's either way (the same core schema,
`extra="forbid"`, no inf or NaN). `Record` gives them the part of BaseModel's API kamrules uses,
so code written for any model (tasks and configs are BaseModels) reads them the same way.
"""

from __future__ import annotations

import copy
from typing import Any, ClassVar, Literal, TypeVar

from pydantic import ConfigDict
from pydantic.dataclasses import dataclass
from pydantic.fields import FieldInfo

R = TypeVar("R", bound="Record")

# Every record kind's options: `@record` on the class
CONFIG = ConfigDict(extra="forbid", allow_inf_nan=False)
record = dataclass(slots=True, kw_only=True, config=CONFIG)


class _Fields:
    """`model_fields` of a record class (or of a record): its fields in order, as pydantic's
    `FieldInfo`."""

    def __get__(self, obj: Any, cls: type[Any]) -> dict[str, FieldInfo]:
        return cls.__pydantic_fields__  # type: ignore[no-any-return]


class Record:
    """Base of every canonical record kind: unknown fields are a connector bug, not data.

    A subclass is declared with `@record` (a pydantic dataclass with slots and keyword-only
    fields); it validates like a model (`Kind(**values)`, `model_validate`) and is held and read
    as a plain slots object."""

    __slots__ = ()
    __pydantic_validator__: ClassVar[Any]
    __pydantic_serializer__: ClassVar[Any]
    model_fields: ClassVar[dict[str, FieldInfo]] = _Fields()  # type: ignore[assignment]

    @classmethod
    def model_validate(cls: type[R], obj: Any, *, context: Any = None) -> R:
        """A record of `obj` (a mapping, or a record of this kind, kept as it is); raises
        pydantic's ValidationError."""
        return cls.__pydantic_validator__.validate_python(obj, context=context)  # type: ignore[no-any-return]

    @classmethod
    def model_validate_json(cls: type[R], data: str | bytes) -> R:
        return cls.__pydantic_validator__.validate_json(data)  # type: ignore[no-any-return]

    def model_dump(self, *, mode: Literal["python", "json"] = "python", exclude_none: bool = False,
                   exclude_defaults: bool = False) -> dict[str, Any]:
        return type(self).__pydantic_serializer__.to_python(  # type: ignore[no-any-return]
            self, mode=mode, exclude_none=exclude_none, exclude_defaults=exclude_defaults)

    def model_dump_json(self, *, indent: int | None = None, exclude_none: bool = False,
                        exclude_defaults: bool = False) -> str:
        return type(self).__pydantic_serializer__.to_json(  # type: ignore[no-any-return]
            self, indent=indent, exclude_none=exclude_none,
            exclude_defaults=exclude_defaults).decode()

    def model_copy(self: R, *, update: dict[str, Any] | None = None, deep: bool = False) -> R:
        """A copy with `update`'s values set, not validated (as BaseModel's `model_copy`)."""
        out = copy.deepcopy(self) if deep else copy.copy(self)
        for name, value in (update or {}).items():
            setattr(out, name, value)
        return out
