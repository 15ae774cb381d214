"""HubSpot task rows of any shape: reading one never raises, and closing an unusable one as
unreadable is a fixed point (the closed row reads back as done, quietly, and fits HubSpot's limit).
The end-to-end behaviour through the CLI is in test_hubspot_bad_tasks.py."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from kamrules.connectors.hubspot.task_rows import MAX_TEXT, ReadBack, closing_body
from kamrules.protocol.marker import add_marker

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
FIELDS = ("hs_task_subject", "hs_task_body", "hs_task_status", "hs_task_priority", "hs_timestamp",
          "hubspot_owner_id", "hs_task_completion_date", "hs_createdate", "hs_lastmodifieddate")
GOOD_BODY = add_marker("Book the review", "kam-core/no-plan/123", {"plan_age_days": 400})
STATUS = st.sampled_from(["NOT_STARTED", "COMPLETED", "WAITING", None, "", "done", 3])


def _row(values: dict[str, Any]) -> dict[str, Any]:
    return {"id": "501", "properties": values}


@settings(max_examples=300, deadline=None)
@given(st.one_of(JSON, st.dictionaries(st.sampled_from(["id", "properties"]), JSON)))
def test_any_row_shape_is_read_without_raising(row: Any) -> None:
    read = ReadBack()
    read.add(row, "kam_fingerprint")
    assert len(read.tasks) <= 1


@settings(max_examples=300, deadline=None)
@given(st.fixed_dictionaries({}, optional={f: JSON | st.text(max_size=40) for f in FIELDS}), STATUS)
def test_a_marked_row_with_any_values_is_read_or_reported(values: dict[str, Any], status: Any) -> None:
    read = ReadBack()
    read.add(_row({**values, "hs_task_body": GOOD_BODY, "hs_task_status": status}))
    assert len(read.tasks) + len(read.unusable) == 1 or (status == "COMPLETED" and read.warnings)
    if read.tasks:
        assert read.tasks[0].fingerprint == "kam-core/no-plan/123" and read.tasks[0].crm_id == "501"
    else:  # unusable: named, and (when open) queued to be closed
        assert any(w.record_id == "501" for w in read.warnings)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200), st.sampled_from([
    "kamrules:{broken", 'kamrules:{"fp": "kam-core", "ev": {}}', 'kamrules:{"fp": 5}']),
    st.sampled_from([None, "done", "NOT_STARTED"]), st.integers(0, 3 * MAX_TEXT))
def test_closing_as_unreadable_is_done_once(text: str, marker: str, status: Any, pad: int) -> None:
    body = f"{text}{'x' * pad}\n\n{marker}"
    read = ReadBack()
    read.add(_row({"hs_task_body": body, "hs_task_status": status}))
    assert not read.tasks and len(read.unusable) == 1 and "unreadable" in read.warnings[0].message
    closed = closing_body(body, read.unusable[0].problem)
    assert len(closed) <= MAX_TEXT
    again = ReadBack()
    again.add(_row({"hs_task_body": closed, "hs_task_status": "COMPLETED"}))
    assert again.tasks == [] and again.unusable == [] and again.warnings == []


def test_a_user_task_is_never_reported() -> None:
    read = ReadBack()
    for body in ("Call Ana back", None, "", "notes\nkamrules is great", 7):
        read.add(_row({"hs_task_body": body, "hs_task_status": "weird"}), "kam_fingerprint")
    assert read.tasks == [] and read.warnings == [] and read.unusable == []
