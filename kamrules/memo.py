"""Answers remembered where most of them repeat, in bounded memory: one mechanism for every
memo of a run (formatted numbers, durable_rules' matches, play decisions)."""

from __future__ import annotations

from typing import TypeVar

K = TypeVar("K")
V = TypeVar("V")


class BoundedMemo(dict[K, V]):
    """A dict emptied whenever it would hold more than `limit` entries: a run keeps a bounded
    number, and one that repeats little costs only the lookups."""

    __slots__ = ("limit",)

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def remember(self, key: K, value: V) -> V:
        if len(self) >= self.limit:
            self.clear()
        self[key] = value
        return value
