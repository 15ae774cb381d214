"""A worker's chunk result crosses to the run's process with its tasks as tuples
(kamrules/run/packed.py): what arrives equals what was sent, held as compactly as a task made
in the run's process. (tests/test_results_identical.py compares whole runs on 1-3 workers.)"""

from __future__ import annotations

import pickle
import sys
from datetime import date

import pytest

from kamrules.construct import made, shape_of
from kamrules.model import Task
from kamrules.run.packed import pack, unpack
from kamrules.run.workers import ChunkResult
from kamrules.writeback.reconcile import Desired
from kamrules.writeback.tasks import PendingText

AS_OF = date(2026, 11, 1)


def _desired(i: int, text: object) -> Desired:
    task = made(Task, fingerprint=f"kam-core/KAM-X-00{i}/ACC-{i}", account_id=f"ACC-{i}",
                subject=f"s{i}", body="", owner_id=None if i % 2 else "U1",
                due=date(2026, 11, 8 + i), evidence={"fact": i, "share": 2.5, "none": None},
                created=AS_OF)
    return Desired(task, "high" if i % 2 else "low", text)


def test_a_chunk_result_arrives_as_it_was_sent() -> None:
    texts = [PendingText("kam-core", "KAM-X-001", {"principle_names": "P", "n": 3}, "Acme", AS_OF),
             None, "a text of another kind, sent as it is"]
    own = Task(fingerprint="p/r/ACC-9", account_id="ACC-9", subject="", body="")  # 4 fields set
    sent = ChunkResult(
        desired=[_desired(i, t) for i, t in enumerate(texts)] + [Desired(own, "info", None)],
        items=[("kam-core", "KAM-X-001", _desired(7, texts[0]))],
        evaluated=["ACC-0"], names={"ACC-0": "Acme"}, users={}, plays={})
    data = pickle.dumps(sent, protocol=pickle.HIGHEST_PROTOCOL)
    assert b"__pydantic_fields_set__" not in data and b"PendingText" not in data
    got = pickle.loads(data)
    assert got == sent
    assert [type(d.text) for d in got.desired] == [PendingText, type(None), str, type(None)]
    every = shape_of(Task).every
    assert [d.task.__pydantic_fields_set__ is every for d in got.desired] == [True] * 3 + [False]
    assert got.desired[3].task.model_fields_set == {"fingerprint", "account_id", "subject", "body"}
    # held as compactly as one made here: the class's shared table of names, not a dict each
    mine = _desired(0, None).task
    assert sys.getsizeof(got.items[0][2].task.__dict__) == sys.getsizeof(mine.__dict__)
    assert got.items[0][2].task.model_dump_json() == sent.items[0][2].task.model_dump_json()


def test_only_tasks_are_packed() -> None:
    class Other(Task):
        pass

    with pytest.raises(TypeError, match="a desired task is a Other"):
        pack(Desired(Other(fingerprint="p/r/a", account_id="a", subject="", body=""), "low"))
    assert unpack(pack(_desired(1, None))) == _desired(1, None)
