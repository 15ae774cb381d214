"""Models kamrules builds from its own values (kamrules/construct.py) are the models pydantic
validates, less a field-name set per instance."""

from __future__ import annotations

import pickle
import tracemalloc
from datetime import date

import pytest

from kamrules import model
from kamrules.construct import changed, made
from kamrules.model import Task
from kamrules.protocol.changes import Change
from kamrules.run.sync import ChangeReport

DAY = date(2026, 11, 1)
FIELDS = dict(fingerprint="p/R/A1", account_id="A1", subject="s", body="b", owner_id="U1",
              due=DAY, priority="high", evidence={"x": 1.5}, created=DAY)


def test_a_made_task_equals_the_validated_one_in_every_form() -> None:
    got, want = made(Task, **FIELDS), Task(**FIELDS)
    assert got == want
    assert got.model_dump() == want.model_dump()
    assert got.model_dump_json() == want.model_dump_json()
    assert pickle.loads(pickle.dumps(got)) == want
    assert got.status == "open" and got.crm_id is None  # defaults filled as pydantic does


def test_defaults_made_by_a_factory_are_not_shared() -> None:
    one = made(Task, **{k: v for k, v in FIELDS.items() if k != "evidence"})
    two = made(Task, **{k: v for k, v in FIELDS.items() if k != "evidence"})
    one.evidence["y"] = 2
    assert two.evidence == {} and Task(**{k: v for k, v in FIELDS.items() if k != "evidence"}).evidence == {}


def test_instances_share_one_field_name_set_and_copies_get_their_own() -> None:
    one, two = made(Task, **FIELDS), made(Task, **FIELDS)
    assert one.model_fields_set is two.model_fields_set == set(Task.model_fields)
    one.status = "closed"  # what play test cases do to a task
    copy = one.model_copy(update={"subject": "t"})
    assert copy.model_fields_set is not one.model_fields_set
    assert two.status == "open" and two.model_fields_set == set(Task.model_fields)


def test_unknown_and_missing_fields_are_errors() -> None:
    with pytest.raises(TypeError, match="no field 'colour'"):
        made(Task, **FIELDS, colour="red")
    with pytest.raises(TypeError, match="needs 'account_id'"):
        made(Task, **{k: v for k, v in FIELDS.items() if k != "account_id"})


def test_changed_is_model_copy_with_an_update() -> None:
    task = made(Task, **FIELDS)
    change = made(Change, action="create", fingerprint="p/R/A1", task=task, severity="high")
    assert change == Change(action="create", fingerprint="p/R/A1", task=Task(**FIELDS), severity="high")
    again = changed(change, task=changed(task, subject="new"))
    assert again == change.model_copy(update={"task": task.model_copy(update={"subject": "new"})})
    assert task.subject == "s"  # the original is left as it was
    assert again.task.model_fields_set is task.model_fields_set  # the class's shared set
    validated = Task(**FIELDS)
    assert changed(validated, body="b2") == validated.model_copy(update={"body": "b2"})
    with pytest.raises(TypeError, match="no field 'colour'"):
        changed(task, colour="red")
    line = made(ChangeReport, action="create", fingerprint="p/R/A1", account_id="A1",
                subject="s", owner_id=None, severity="high")
    assert line == ChangeReport(action="create", fingerprint="p/R/A1", account_id="A1",
                                subject="s", owner_id=None, severity="high")


def _bytes_each(make, n: int = 2000) -> float:  # noqa: ANN001
    tracemalloc.start()
    kept = make() if n == 1 else [make() for _ in range(n)]
    size = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    assert kept is not None
    return size / 2000


def test_made_and_unpickled_models_hold_no_dict_of_their_own(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each value is set as an attribute (kamrules.model.construct_compact): the instance shares
    its class's table of field names, so it costs well under what a validated one does; tasks a
    worker process sends (one pickle of many, as a chunk's result) are as compact."""
    fields = {k: v for k, v in FIELDS.items() if k != "evidence"}
    validated = _bytes_each(lambda: Task(**fields))
    assert _bytes_each(lambda: made(Task, **fields)) < 0.6 * validated
    line = dict(action="create", fingerprint="p/R/A1", account_id="A1", subject="s",
                owner_id=None, severity="high")
    assert _bytes_each(lambda: made(ChangeReport, **line)) < 0.6 * _bytes_each(
        lambda: ChangeReport(**line))
    sent = pickle.dumps([made(Task, **fields) for _ in range(2000)])
    compact = _bytes_each(lambda: pickle.loads(sent), n=1)
    assert pickle.loads(sent)[7] == Task(**fields)
    monkeypatch.setattr(model, "_COMPACT", False)  # pydantic's own unpickling
    assert pickle.loads(sent)[7] == Task(**fields)
    # (Python 3.11: 280 bytes a task against 620; 3.13, which keeps attributes inline: 495 vs 615)
    assert compact < 0.85 * _bytes_each(lambda: pickle.loads(sent), n=1)
