"""A play's state rebuilt from CRM tasks: instances by start date, duplicates, phases."""

from __future__ import annotations

from datetime import date

from kamrules.model import Task
from kamrules.playbooks.state import oldest_open_start, rebuild

STEPS = ["a", "b"]


def _task(step: str, status: str = "open", started: str = "2026-11-01", crm_id: str = "1",
          completed: str | None = None) -> Task:
    return Task(fingerprint=f"p/PLAY-X/A1/{step}", account_id="A1", subject=step, body="",
                status=status, crm_id=crm_id, completed=completed,  # type: ignore[arg-type]
                evidence={"play_started": started})


def test_instances_by_start_date_and_rule_tasks_ignored() -> None:
    rule = Task(fingerprint="p/KAM-X-001/A1", account_id="A1", subject="s", body="", evidence={})
    old = _task("a", "completed", "2026-01-01", "7", "2026-01-05")
    new = _task("a", "open", "2026-11-01", "8")
    got = rebuild([rule, old, new])
    assert list(got) == [("p", "PLAY-X", "A1")]
    assert [i.started for i in got[("p", "PLAY-X", "A1")]] == [date(2026, 1, 1), date(2026, 11, 1)]
    assert oldest_open_start([rule, old, new]) == date(2026, 11, 1)


def test_a_second_open_copy_is_a_duplicate_and_a_closed_copy_never_hides_a_live_one() -> None:
    inst = rebuild([_task("a", crm_id="1"), _task("a", crm_id="2"),
                    _task("b", "closed", crm_id="3", completed="2026-11-02"),
                    _task("b", "completed", crm_id="4", completed="2026-11-03")])[("p", "PLAY-X", "A1")][0]
    assert [t.crm_id for t in inst.duplicates] == ["2"]
    assert inst.steps["b"].crm_id == "4" and inst.phase(STEPS, date(2026, 11, 10)) == "active"


def test_phases() -> None:
    as_of = date(2026, 11, 10)

    def phase(*tasks: Task) -> str:
        return rebuild(tasks)[("p", "PLAY-X", "A1")][0].phase(STEPS, as_of)

    assert phase(_task("a")) == "active"
    assert phase(_task("a", "closed", completed="2026-11-05"), _task("b")) == "exiting"
    assert phase(_task("a", "closed", completed="2026-11-05")) == "exited"
    done = [_task("a", "completed", crm_id="1", completed="2026-11-02"),
            _task("b", "completed", crm_id="2", completed="2026-11-09")]
    assert phase(*done) == "active"  # the first run after the last completion completes it
    done[1] = _task("b", "completed", crm_id="2", completed="2026-11-05")
    escalation = Task(fingerprint="p/PLAY-X/A1/a.escalation", account_id="A1", subject="s", body="",
                      status="closed", completed=date(2026, 11, 9), evidence={"play_started": "2026-11-01"})
    assert phase(*done, escalation) == "complete"  # closing its escalation does not make it exit
