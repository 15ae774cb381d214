"""A small portfolio and a 60-night schedule that walks kam-core's three plays through every
transition: started, steps opened in order, escalated, completed by hand, exited."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

START = date(2026, 11, 1)
NIGHTS = 60


def day(n: int) -> date:
    return START + timedelta(days=n)


def run_nights(root: Path, records: dict[str, list[dict[str, Any]]], packs: str = "[kam-core]",
               nights: tuple[int, ...] = (0,), extra: str = "") -> Any:
    """A local CRM in `root` holding `records`, then `kamrules run` on each of `nights` (each
    exit 0 with no failed write); the CRM (a LocalCrm) to read the tasks from."""
    from click.testing import CliRunner

    from kamrules.cli.main import cli
    from kamrules.connectors.local.crm import LocalCrm

    crm = LocalCrm(root / "crm.sqlite")
    for kind, rows in records.items():
        crm.insert_records(kind, rows)
    config = root / "kamrules.yaml"
    config.write_text(f"crm: {{type: local, path: crm.sqlite, seed: empty}}\npacks: {packs}\n{extra}")
    for night in nights:
        result = CliRunner().invoke(cli, ["--config", str(config), "run", "--as-of",
                                          day(night).isoformat(), "--json"])
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["counts"]["failed"] == 0
    return crm


def portfolio() -> dict[str, list[dict[str, Any]]]:
    """Three key accounts: a first win (onboarding), falling CSAT (risk), a contract ending."""
    accounts = [
        {"id": "ACC-ONB", "name": "Nova Foods", "owner_id": "U1", "is_key": True},
        {"id": "ACC-RSK", "name": "Risky Metals", "owner_id": "U1", "is_key": True},
        {"id": "ACC-REN", "name": "Renew Logistics", "owner_id": "U3", "is_key": True},
    ]
    return {
        "users": [{"id": "U1", "name": "Ana Owner", "email": "ana@example.com"},
                  {"id": "U2", "name": "Ed Sponsor", "email": "ed@example.com"},
                  {"id": "U3", "name": "Rita Owner", "email": "rita@example.com"}],
        "accounts": accounts,
        "team": [{"account_id": a["id"], "user_id": "U2", "role": "executive_sponsor"}
                 for a in accounts],
        "deals": [{"id": "D-ONB-1", "account_id": "ACC-ONB", "name": "First order", "stage": "Closed Won",
                   "amount": 50000.0, "type": "new", "created": "2026-10-01",
                   "close_date": "2026-10-30", "is_closed": True, "is_won": True}],
        "surveys": [{"account_id": "ACC-RSK", "date": "2026-06-01", "kind": "csat", "score": 9.0},
                    {"account_id": "ACC-RSK", "date": "2026-10-20", "kind": "csat", "score": 6.0}],
        "contracts": [{"account_id": "ACC-REN", "end_date": day(130).isoformat(),
                       "renewal_status": "none"}],
    }


# By hand between runs: night -> [(fingerprint suffix to complete)], and record edits.
COMPLETE: dict[int, list[str]] = {
    5: ["PLAY-RISK/ACC-RSK/risk-review"],
    22: ["PLAY-ONBOARD/ACC-ONB/first-meeting"],
    30: ["PLAY-ONBOARD/ACC-ONB/contacts-beyond-purchasing"],
    33: ["PLAY-RENEWAL/ACC-REN/renewal-opportunity"],
    40: ["PLAY-ONBOARD/ACC-ONB/account-plan"],
}
# night 20: a new survey of 9 -> satisfaction rises -> the risk play's trigger clears
NEW_SURVEY_NIGHT = 20
NIGHT_ESCALATION = 21  # both first steps are a week overdue: escalated
NEW_SURVEY = {"account_id": "ACC-RSK", "date": day(20).isoformat(), "kind": "csat", "score": 9.5}

EXPECTED = [
    (0, "started", "PLAY-ONBOARD", "ACC-ONB", None),
    (0, "step_opened", "PLAY-ONBOARD", "ACC-ONB", "first-meeting"),
    (0, "started", "PLAY-RISK", "ACC-RSK", None),
    (0, "step_opened", "PLAY-RISK", "ACC-RSK", "risk-review"),
    (6, "step_opened", "PLAY-RISK", "ACC-RSK", "decision-maker-meeting"),
    (10, "started", "PLAY-RENEWAL", "ACC-REN", None),
    (10, "step_opened", "PLAY-RENEWAL", "ACC-REN", "renewal-opportunity"),
    (14, "step_opened", "PLAY-ONBOARD", "ACC-ONB", "contacts-beyond-purchasing"),
    (21, "escalated", "PLAY-ONBOARD", "ACC-ONB", "first-meeting"),
    (20, "exited", "PLAY-RISK", "ACC-RSK", None),
    (23, "step_opened", "PLAY-ONBOARD", "ACC-ONB", "account-plan"),
    (24, "step_opened", "PLAY-RENEWAL", "ACC-REN", "executive-touch"),
    (31, "escalated", "PLAY-RENEWAL", "ACC-REN", "renewal-opportunity"),
    (34, "step_opened", "PLAY-RENEWAL", "ACC-REN", "terms-in-writing"),
    (41, "completed", "PLAY-ONBOARD", "ACC-ONB", None),
]


def transitions(night: int, report: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [(night, t["kind"], t["play_id"], t["account_id"], t["step"]) for t in report["plays"]]


def full(records: dict[str, list[dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    """Every record kind present (the fake CRMs' loaders read each one)."""
    from kamrules.model import RECORD_KINDS

    return {kind: list(records.get(kind, [])) for kind in RECORD_KINDS}


def _around_events() -> tuple[int, ...]:
    events = {0, NEW_SURVEY_NIGHT, NIGHT_ESCALATION, *COMPLETE, *(e[0] for e in EXPECTED)}
    return tuple(sorted({n + d for n in events for d in (-1, 0, 1) if 0 <= n + d < NIGHTS} | {NIGHTS - 1}))


# The nights on which something happens (a transition is expected, a step is completed by hand, a
# survey arrives), the night before each (a transition a night or more early shows there, not on
# its own night) and the night after each (a repeat or a late transition shows there), and the
# last night. Each run starts from a fresh state directory and rebuilds the plays from the CRM's
# tasks, so skipping a quiet night leaves every later night's CRM as the full schedule leaves it.
# The local CRM walks all 60 nights (the day-by-day timing is the core's, the same on any CRM);
# the remote CRMs, whose part is each transition's round trip through their task records, walk
# these 31.
AROUND_EVENTS = _around_events()


def simulate(run: Any, complete: Any, add_survey: Any,
             nights: Any = range(NIGHTS)) -> list[tuple[Any, ...]]:
    """The 60 nights (or `nights`, in order): `run(night)` -> report, `complete(fingerprint, day)`
    and `add_survey(row)` act in the CRM by hand between runs. Returns every transition, tagged
    with its night."""
    assert {0, NEW_SURVEY_NIGHT, *COMPLETE} <= set(nights)  # every act by hand happens
    seen: list[tuple[Any, ...]] = []
    for night in nights:
        if night == NEW_SURVEY_NIGHT:
            add_survey(NEW_SURVEY)
        report = run(night)
        assert report["exit_code"] == 0, report
        seen += transitions(night, report)
        for suffix in COMPLETE.get(night, []):
            complete(f"kam-core/{suffix}", day(night))
    return seen
