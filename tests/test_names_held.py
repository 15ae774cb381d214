"""A run on the local CRM, on any number of workers, names only the accounts its second half
shows (a finding, a task in the CRM, a play: `Evaluation.named`), and every name it shows is
the one a run holding every account's name (a CRM that cannot tell which accounts have tasks)
shows: each change's account and owner name and the digest, over a first run and a second one
that keeps, updates and closes."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest

from kamrules.cli.wiring import open_connector
from kamrules.connectors.local.demo import demo_portfolio
from kamrules.run import sync
from kamrules.run.config import load_config, load_configured_packs
from kamrules.run.sync import run

DAYS = (date(2026, 11, 1), date(2026, 11, 22))
CONCLUDE = sync.conclude
DIGEST = """digest:
  webhook:
    url: {env: KAMRULES_TEST_WEBHOOK}
"""


def _runs(root: Path, workers: int, monkeypatch: pytest.MonkeyPatch,
          name_all: bool = False) -> tuple[list[Any], list[int]]:
    if name_all:  # as where the CRM cannot tell: `named` stays None
        monkeypatch.setattr(sync.Evaluation, "named", property(lambda _: None, lambda _, __: None))
    monkeypatch.setenv("KAMRULES_TEST_WEBHOOK", "http://127.0.0.1:9/hook")  # built, not sent
    held: list[int] = []

    def counted(report: Any, connector: Any, found: Any, *args: Any, **kwargs: Any) -> Any:
        held.append(sum(1 for k in found.names if k.startswith("ACC-")))
        return CONCLUDE(report, connector, found, *args, **kwargs)

    monkeypatch.setattr(sync, "conclude", counted)
    root.mkdir()
    (root / "kamrules.yaml").write_text(
        "crm: {type: local, path: crm.sqlite, seed: empty}\nstate_dir: state\n" + DIGEST)
    loaded = load_config(root / "kamrules.yaml")
    packs = load_configured_packs(loaded)
    connector = open_connector(loaded)
    reports = []
    try:
        for kind, rows in demo_portfolio(DAYS[0], accounts=300).items():
            connector.insert_records(kind, rows)
        for day in DAYS:
            if reports:  # a task of an account with no finding now (it was resolved): closed
                quiet = sorted({f"ACC-{i:06d}" for i in range(1, 301)}
                               - {c.account_id for c in reports[0].changes})[:3]
                for account in quiet:
                    connector.db.execute(
                        "INSERT INTO tasks (fingerprint, account_id, subject, body, status,"
                        " priority, evidence, created) VALUES (?, ?, 's', '', 'open', 'normal',"
                        " '{}', '2026-10-01')", (f"kam-core/bundle:relationship/{account}", account))
            reports.append(run(connector, packs, loaded, day, False, chunk_size=37,
                               workers=workers))
    finally:
        connector.close()
    return reports, held


def _shown(report: Any) -> tuple[Any, ...]:
    lines = [(c.action, c.fingerprint, c.account_name, c.owner_name) for c in report.changes]
    digest = [m.model_dump(mode="json", exclude={"message_id"}) for m in
              (report.digest.messages if report.digest else [])]
    return lines, digest


@pytest.mark.parametrize("workers", [1, 2])
def test_a_run_names_what_it_shows_as_a_run_naming_all(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: int) -> None:
    with monkeypatch.context() as patched:
        every, all_names = _runs(tmp_path / "one", 1, patched, name_all=True)
    planned, fewer = _runs(tmp_path / "two", workers, monkeypatch)
    for a, b in zip(every, planned, strict=True):
        assert _shown(a) == _shown(b)
    first, second = planned
    assert {c.action for c in second.changes} >= {"keep", "close", "create"}
    closed = [c for c in second.changes if c.action == "close" and c.subject == "s"]
    assert len(closed) == 3 and all(c.account_name for c in closed)
    assert all(c.account_name for c in first.changes + second.changes)
    assert second.digest and second.digest.messages
    # the run that cannot tell holds every account's name; the others only those they may show
    assert all_names == [300, 300] and all(n < 300 for n in fewer)
