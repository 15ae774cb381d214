"""A report's JSON in pieces: the same bytes pydantic writes for the whole model, made a batch
of its long list at a time, so a run over a million accounts never holds the whole text (its
`changes` are ~170 MB of JSON, which as one object was the run's peak of memory, issue #18)."""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, TypeAdapter

BATCH = 2000  # list items serialized at a time: ~1 MB of JSON


def json_pieces(model: BaseModel, field: str = "changes", indent: int | None = None,
                batch: int | None = None) -> Iterator[bytes]:
    """`model`'s JSON as pydantic's `to_json(model, indent=indent)` writes it, in pieces that
    join to exactly those bytes; the list `field` (a top-level field) is serialized `batch`
    items at a time. A model whose list is short is written in one piece."""
    serializer = model.__pydantic_serializer__
    batch = batch or BATCH
    items = getattr(model, field, None)
    if not isinstance(items, list) or len(items) <= batch:
        yield serializer.to_json(model, indent=indent)
        return
    frame = serializer.to_json(model.model_copy(update={field: []}), indent=indent)
    key = f'"{field}": []' if indent else f'"{field}":[]'
    at = frame.find(key.encode())
    # only a top-level key can be the one place: a string's quotes are escaped in JSON
    if at < 0 or frame.find(key.encode(), at + 1) >= 0:
        yield serializer.to_json(model, indent=indent)
        return
    adapter = _adapter(type(model), field)
    head = at + len(key) - 1  # up to and with the list's "["
    yield frame[:head]
    for start in range(0, len(items), batch):
        part = adapter.dump_json(items[start:start + batch], indent=indent)
        # a top-level list's items without its brackets, indented one level in (a raw newline
        # in JSON is only layout: in strings it is escaped)
        part = part.replace(b"\n", b"\n" + b" " * indent)[1:-(indent + 2)] if indent else part[1:-1]
        yield part if start == 0 else b"," + part
    yield (b"\n" + b" " * indent if indent else b"") + frame[head:]


@lru_cache(maxsize=16)
def _adapter(model: type[BaseModel], field: str) -> TypeAdapter[Any]:
    return TypeAdapter(model.model_fields[field].annotation)
