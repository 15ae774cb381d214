"""A local CRM tells the plays which accounts have play tasks before the chunks are evaluated
(`accounts_with_tasks`), so a run, on any number of workers, keeps play input only for those
and for accounts a play may start on (issue #18). An account whose play runs while its trigger
stops holding must still be asked about: its play exits, as in a run that keeps every account."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from kamrules.cli.wiring import open_connector
from kamrules.connectors.local.demo import demo_portfolio
from kamrules.playbooks.advance import Plays
from kamrules.playbooks.state import PLAY_FINGERPRINTS
from kamrules.run.config import load_config, load_configured_packs
from kamrules.run.sync import Evaluation, run
from kamrules.run.workers import POOLS

DAYS = (date(2026, 11, 1), date(2026, 11, 22))


def _workspace(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "kamrules.yaml").write_text(
        "crm: {type: local, path: crm.sqlite, seed: empty}\nstate_dir: state\n")
    return root / "kamrules.yaml"


def _run(config: Path, day: date, workers: int) -> Any:
    loaded = load_config(config)
    connector = open_connector(loaded)
    try:
        return run(connector, load_configured_packs(loaded), loaded, day, False, chunk_size=37,
                   digest=False, workers=workers)
    finally:
        connector.close()


def _seeded(root: Path) -> Path:
    config = _workspace(root)
    loaded = load_config(config)
    connector = open_connector(loaded)
    try:
        for kind, rows in demo_portfolio(DAYS[0], accounts=300).items():
            connector.insert_records(kind, rows)
    finally:
        connector.close()
    return config


def test_a_play_whose_trigger_stopped_holding_exits_in_a_planned_run(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = _seeded(tmp_path / "one")
    first = _run(config, DAYS[0], workers=2)
    started = sorted({m.account_id for m in first.plays if m.kind == "started"})
    assert started, "the demo portfolio starts plays"
    # the accounts of every started play stop being key accounts: no trigger holds any more
    loaded = load_config(config)
    connector = open_connector(loaded)
    try:
        with_tasks = connector.accounts_with_tasks(PLAY_FINGERPRINTS)
        assert set(started) <= with_tasks
        connector.db.executemany('UPDATE accounts SET is_key = 0 WHERE "key" = ?',
                                 [(a,) for a in started])
    finally:
        connector.close()
    shutil.copytree(tmp_path / "one", tmp_path / "two")
    shutil.copytree(tmp_path / "one", tmp_path / "every")
    before = POOLS["started"]
    planned = _run(config, DAYS[1], workers=2)
    assert POOLS["started"] == before + 1, "the chunks were planned and pulled by workers"
    in_one = _run(tmp_path / "two" / "kamrules.yaml", DAYS[1], workers=1)
    # the reference: plays that know no history keep every account's input
    monkeypatch.setattr(Plays, "history", property(lambda _: None, lambda _, __: None),
                        raising=False)
    every = _run(tmp_path / "every" / "kamrules.yaml", DAYS[1], workers=1)
    exited = {m.account_id for m in planned.plays if m.kind == "exited"}
    assert exited == set(started)
    for run_ in (in_one, every):
        assert [m.model_dump() for m in planned.plays] == [m.model_dump() for m in run_.plays]
        assert [(c.action, c.fingerprint, c.reason) for c in planned.changes] == \
            [(c.action, c.fingerprint, c.reason) for c in run_.changes]


def test_play_input_is_kept_only_where_a_play_may_start_or_has_run(
        tmp_path: Path, demo_snapshot: Any) -> None:
    loaded = load_config(_workspace(tmp_path))
    packs = load_configured_packs(loaded)
    from kamrules.evaluation.engine import Engine
    from kamrules.evaluation.facts import account_views
    from kamrules.writeback.tasks import Directory

    engine = Engine(packs, loaded.config.engine)
    found = {k: Evaluation(packs, loaded, DAYS[0]) for k in ("any", "known")}
    views = list(account_views(demo_snapshot))
    ran = {views[0].account.id, views[-1].account.id}
    found["known"].plays.history = ran
    for f in found.values():
        directory = Directory.from_snapshot(demo_snapshot, None)
        for view in views:
            f.account(view, directory, engine)
    every, kept = found["any"].plays.inputs, found["known"].plays.inputs
    assert len(every) == len(views)
    may_start = {a for a, i in every.items() if i.may_start}
    assert 0 < len(may_start) < len(views) / 2
    assert kept.keys() == may_start | ran
    assert all(kept[a] == every[a] for a in kept)

