"""Days (kamrules/inputs/days.py). Dates at the calendar's ends: a CRM's 9999-12-31 ("never") is read
and reconciled, never an OverflowError (exit 5); a run's own date near either end is refused
where it is given; a moment whose UTC date is past the calendar is a located bad value. Waits
a user writes have ceilings, located in the config."""

from __future__ import annotations

import sqlite3
from datetime import date
from pathlib import Path

import pytest

from kamrules.connectors.hubspot.values import parse_date, stamp
from kamrules.connectors.mapping.language import BadValue, to_date
from kamrules.inputs.days import RUN_DAYS, shifted
from kamrules.language.template import People
from kamrules.playbooks.state import PLAY_FINGERPRINTS
from tests.conftest import ANCHOR, Workspace
from tests.test_admin_cli import kamrules


def test_shifted_stops_at_the_calendars_ends() -> None:
    assert shifted(date(2026, 11, 1), 30) == date(2026, 12, 1)
    assert shifted(date(2026, 11, 1), -30) == date(2026, 10, 2)
    assert shifted(date(9999, 12, 31), 30) == date.max
    assert shifted(date(9999, 12, 1), 3650) == date.max
    assert shifted(date(1, 1, 5), -10) == date.min


@pytest.mark.parametrize("day", ["9999-12-31", "0001-01-01", "3000-01-01", "1899-12-31"])
def test_a_run_date_past_the_run_days_is_refused_where_it_is_given(workspace: Workspace,
                                                                   day: str) -> None:
    proc = workspace.cli("plan", "--as-of", day, check=False)
    assert proc.returncode == 2, proc.stderr
    assert (f"Invalid value for '--as-of': {day} is outside the days a run may be as of"
            f" ({RUN_DAYS[0]} to {RUN_DAYS[1]})") in proc.stderr
    assert "internal error" not in proc.stderr


def test_the_first_and_last_run_days_run(workspace: Workspace) -> None:
    for day in RUN_DAYS:
        report = workspace.run_json("--as-of", day.isoformat(), command="plan")
        assert report["as_of"] == day.isoformat() and report["exit_code"] == 0


def test_a_snooze_may_last_to_the_calendars_end(workspace: Workspace) -> None:
    workspace.cli("snooze", "add", "--until", "9999-12-31", "--rule", "KAM-REL-004",
                  "--reason", "never again", "--by", "sales ops")
    report = workspace.run_json(command="plan")
    snoozed = [c for c in report["changes"] if c["action"] == "snoozed"]
    assert snoozed and all("/KAM-REL-004/" in c["fingerprint"] for c in snoozed)


def test_tasks_completed_at_the_calendars_ends_are_reconciled(workspace: Workspace) -> None:
    first = workspace.run_json()
    created = sorted(c["fingerprint"] for c in first["changes"] if c["action"] == "create")
    late, early = created[0], created[1]
    db = sqlite3.connect(workspace.crm_path)
    with db:
        done = "UPDATE tasks SET status = ?, completed = ? WHERE fingerprint = ?"
        db.execute(done, ("completed", "9999-12-31", late))  # an import's "never"
        db.execute(done, ("completed", "0001-01-01", early))
        # every play step closed on the last day: each play is over and cools down from then
        plays = db.execute("UPDATE tasks SET status = 'closed', completed = '9999-12-31'"
                           " WHERE fingerprint GLOB ?", (PLAY_FINGERPRINTS,)).rowcount
    db.close()
    assert plays > 0, "the demo portfolio starts plays"
    report = workspace.run_json(command="plan")
    by_fp = {c["fingerprint"]: c for c in report["changes"]}
    assert by_fp[late]["action"] == "suppressed"
    assert by_fp[late]["reason"] == ("completed by hand on 9999-12-31;"
                                     " raised again from 9999-12-31")
    assert by_fp[early]["action"] == "create"  # completed long ago: raised again
    assert not [p for p in report["plays"] if p["kind"] == "started"]  # still cooling down
    assert report["as_of"] == ANCHOR.isoformat()


@pytest.mark.parametrize("value", ["9999-12-31T23:00:00-05:00", "0001-01-01T01:00:00+05:00",
                                   "253402300800000", "9" * 40])
def test_a_moment_past_the_calendar_as_utc_is_a_bad_value(value: str) -> None:
    message = f"{value!r} is outside the calendar as a UTC date (0001-01-01 to 9999-12-31)"
    for read in (parse_date, lambda v: to_date(v, ANCHOR)):
        with pytest.raises(BadValue) as caught:
            read(value)
        assert str(caught.value) == message
    assert stamp(value) == ""  # a modification date that does not read sorts first


def test_a_moment_on_the_calendar_reads_as_its_utc_date() -> None:
    assert parse_date("2026-11-01T23:00:00-05:00") == date(2026, 11, 2)
    assert to_date("9999-12-31T23:00:00+05:00", ANCHOR) == date(9999, 12, 31)
    with pytest.raises(BadValue, match="^'next spring' is not a date$"):
        parse_date("next spring")


@pytest.mark.parametrize(("setting", "where"), [
    ("timeout_seconds: 1e12", "crm.timeout_seconds"),
    ("retry: {base_seconds: 1e12}", "crm.retry.base_seconds"),
    ("retry: {attempts: 1000000000}", "crm.retry.attempts"),
    ("lookback_minutes: 100000000000000", "crm.lookback_minutes"),
    ("full_refresh_days: 100000000000", "crm.full_refresh_days"),
    ("rate_window_seconds: 1e300", "crm.rate_window_seconds"),  # was taken
])
def test_a_wait_past_its_ceiling_is_a_located_config_error(tmp_path: Path, setting: str,
                                                           where: str) -> None:
    """A timeout of 10^12 seconds was reported as HubSpot being unreachable, a backoff that
    long was exit 5 (a sleep past the clock): now the config says where, before any call."""
    (tmp_path / "kamrules.yaml").write_text(
        "crm:\n  type: hubspot\n  access_token: {env: DAYS_TEST_TOKEN}\n"
        f"  base_url: http://127.0.0.1:9\n  {setting}\n")
    proc = kamrules(tmp_path, "plan", env={"DAYS_TEST_TOKEN": "x"})
    assert proc.returncode == 2, proc.stderr
    assert "error kamrules.yaml:5:" in proc.stderr and f"{where}: Input should be less than" \
        in proc.stderr
    assert "unreachable" not in proc.stderr and "internal error" not in proc.stderr


def test_a_template_date_that_many_days_ago_stops_at_the_calendars_start() -> None:
    """`{{ days | ago }}` of a count of days past the calendar renders its first day; it made
    the whole text fall back to plain text."""
    people = People("en", "EUR", ANCHOR)
    assert people.ago(3) == "Oct 29, 2026"
    assert people.ago(10**7) == people.ago(10**12) == people.date(date.min) == "Jan 1, 1"
