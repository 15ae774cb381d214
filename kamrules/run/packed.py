"""Desired tasks as tuples of their values, to cross from a worker to the run's process.

A first run over 100,000 accounts sends ~45,000 findings' tasks back from its workers. Pickled
as they are (a pydantic state dict per task, a `Desired` and a pending text through `copyreg`),
its chunk results cost 0.38-0.40 CPU s to make and 0.33-0.36 s to read back (the collector
paused); so, 0.22-0.25 and 0.25-0.28 (issue #18). A task read back is made as
`kamrules.construct.made` makes one (compact, the class's one shared set of field names unless
it had a set of its own), so it is held exactly as one made in the run's process.
"""

from __future__ import annotations

from dataclasses import fields
from operator import attrgetter
from typing import Any

from kamrules.construct import shape_of
from kamrules.model import Task, construct_held
from kamrules.writeback.reconcile import Desired
from kamrules.writeback.tasks import PendingText

_TASK = shape_of(Task)
_TASK_VALUES = attrgetter(*_TASK.names)
_TEXT_VALUES = attrgetter(*(f.name for f in fields(PendingText)))  # in `PendingText(*...)` order

Packed = tuple[tuple[Any, ...], Any, str, Any]


def pack(desired: Desired) -> Packed:
    """`desired` as (its task's values, the task's own set of field names or None for the
    shared one, severity, its pending text's values, or the text as it is)."""
    task, text = desired.task, desired.text
    if type(task) is not Task:
        raise TypeError(f"a desired task is a {type(task).__name__}, not a Task")
    fields_set = task.__pydantic_fields_set__
    own = None if fields_set is _TASK.every or fields_set == _TASK.every else fields_set
    return (_TASK_VALUES(task), own, desired.severity,
            _TEXT_VALUES(text) if type(text) is PendingText else text)


def unpack(packed: Packed) -> Desired:
    """The `Desired` that `pack` was given: equal to it, and held as compactly."""
    values, own, severity, text = packed
    task = construct_held(Task, dict(zip(_TASK.names, values, strict=True)),
                          _TASK.every if own is None else own)
    return Desired(task, severity, PendingText(*text) if type(text) is tuple else text)
