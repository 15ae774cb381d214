"""Chunks of a local CRM's accounts as spans of account keys, sized by their records: what a
run's process plans and each worker pulls (`RecordStore.chunk_spans`)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class ChunkSpan:
    """A chunk of accounts by its first and last account key (inclusive), picklable for a
    worker process; `filtered`: records of accounts not in the CRM may fall inside it."""

    first: str
    last: str
    accounts: int
    filtered: bool


def planned(accounts: list[tuple[str, int]], size: int, budget: int
           ) -> Iterator[tuple[str, str, int]]:
    """Consecutive accounts (key, related records), at most `size` of them and (unless one
    alone is more) at most `budget` records with their own, as (first key, last key, accounts);
    an account and its records are never split."""
    first = last = ""
    taken = used = 0
    for key, n in accounts:
        n += 1
        if taken and (taken >= size or used + n > budget):
            yield first, last, taken
            taken = used = 0
        if not taken:
            first = key
        last = key
        taken += 1
        used += n
    if taken:
        yield first, last, taken
