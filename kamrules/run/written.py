"""A run's changes written part by part, as their texts render (kamrules/run/rendering.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from kamrules.protocol.changes import Change, ChangeResult
from kamrules.protocol.connector import Connector, Progress

Written = Callable[[list[Change], list[ChangeResult]], None]


def written_in_parts(connector: Connector, parts: Iterator[list[Change]], writes: int,
                     progress: Progress, each: Written) -> tuple[list[Change], list[ChangeResult]]:
    """Each part of the changes written as soon as its texts are rendered (the next parts
    render meanwhile), then handed to `each` with its results (the report's lines are made
    there, while the renderers work); a written task's body is let go then: nothing after
    the write reads it, and at a million accounts the bodies are half a gigabyte."""
    changes: list[Change] = []
    results: list[ChangeResult] = []
    for part in parts:
        done = len(results)
        written = connector.apply(
            part, lambda stage, n, _total, done=done: progress(stage, done + n, writes))
        each(part, written)
        results += written
        for c in part:
            if c.writes and c.task.body:
                c.task.body = ""  # a written change's task is always this run's own copy
        changes += part
    return changes, results
