"""A what-if's two plans read the same records (kamrules/run/replay.py). The local CRM's file is
read by each plan as a run reads it (its workers pull their own chunks, nothing is held between
the plans), with the same result as one pull held; a write to the file while they read makes
them plan again, and a write in every try stops the what-if (exit 3). A CRM behind an API is
pulled once for both plans."""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import kamrules.run.whatif as whatif_module
from kamrules.cli.main import cli
from kamrules.cli.wiring import open_connector
from kamrules.connectors.local.crm import LocalCrm
from kamrules.connectors.local.demo import demo_portfolio
from kamrules.language.loader import builtin_dir
from kamrules.protocol.connector import SplitConnector
from kamrules.run.config import LoadedConfig, load_config, load_configured_packs
from kamrules.run.replay import Replay, SplitReplay, replay
from kamrules.run.whatif import TRIES, Changes, WhatIf, changed_packs, parse_set, what_if
from tests.conftest import ANCHOR
from tests.support.hubspot_workspace import HsWorkspace, start_fake

AS_OF = date(2026, 11, 1)
CHANGE = "kam-core.min_contacts=8"


@pytest.fixture
def local(tmp_path: Path) -> Iterator[tuple[LoadedConfig, LocalCrm]]:
    (tmp_path / "kamrules.yaml").write_text(
        "crm: {type: local, path: crm.sqlite, seed: empty}\nstate_dir: state\n")
    loaded = load_config(tmp_path / "kamrules.yaml")
    connector = open_connector(loaded)
    for kind, rows in demo_portfolio(AS_OF, accounts=120).items():
        connector.insert_records(kind, rows)
    yield loaded, connector
    connector.close()


def _what_if(loaded: LoadedConfig, connector: LocalCrm, **options: Any) -> WhatIf:
    changed = changed_packs(loaded, parse_set([CHANGE]), [], [], loaded.base_dir)
    return what_if(connector, load_configured_packs(loaded), changed, loaded, AS_OF,
                   Changes(set={"kam-core.min_contacts": 8}), **options)


def _without_pulls(result: WhatIf) -> dict[str, Any]:
    return result.model_dump(exclude={"pulls"})


def _write_between(path: Path, writes: int) -> Any:
    """`run` that, after each of the first `writes` plans it makes, deletes a key account's
    contacts through a connection of its own (as another program would)."""
    made: list[int] = []
    real = whatif_module.run

    def run(*args: Any, **kwargs: Any) -> Any:
        report = real(*args, **kwargs)
        made.append(1)
        if len(made) <= writes:
            with sqlite3.connect(path) as db:
                (account,) = db.execute(
                    "SELECT account_id FROM contacts WHERE account_id IN (SELECT \"key\" FROM"
                    " accounts WHERE is_key = 1) GROUP BY account_id ORDER BY account_id"
                    " LIMIT 1").fetchone()
                db.execute("DELETE FROM contacts WHERE account_id = ?", (account,))
        return report

    run.made = made  # type: ignore[attr-defined]
    return run


@pytest.mark.parametrize("workers", [1, 2])
def test_each_plan_reads_the_local_crm_with_the_result_of_one_pull_held(
        local: tuple[LoadedConfig, LocalCrm], monkeypatch: pytest.MonkeyPatch, workers: int) -> None:
    loaded, connector = local
    assert isinstance(replay(connector), SplitReplay) and isinstance(replay(connector), SplitConnector)
    read = _what_if(loaded, connector, workers=workers, chunk_size=17)
    monkeypatch.setattr(whatif_module, "replay", Replay)  # one pull held, as of an API's CRM
    held = _what_if(loaded, connector, workers=workers, chunk_size=17)
    assert (read.pulls, held.pulls) == (2, 1)
    assert _without_pulls(read) == _without_pulls(held)
    assert read.created and read.rules  # min_contacts 8: the demo's accounts with 5-7 contacts


def test_a_write_to_the_crm_between_the_plans_plans_them_again(
        local: tuple[LoadedConfig, LocalCrm], monkeypatch: pytest.MonkeyPatch) -> None:
    loaded, connector = local
    before = _what_if(loaded, connector)
    run = _write_between(connector.path, writes=1)
    monkeypatch.setattr(whatif_module, "run", run)
    again = _what_if(loaded, connector)
    assert len(run.made) == 4 and again.pulls == 4  # the first try's two plans, then two more
    monkeypatch.undo()
    after = _what_if(loaded, connector)  # the CRM as written, nothing writing now
    assert _without_pulls(again) == _without_pulls(after)
    assert _without_pulls(after) != _without_pulls(before)


def test_a_crm_written_to_in_every_try_stops_the_what_if(
        local: tuple[LoadedConfig, LocalCrm], monkeypatch: pytest.MonkeyPatch) -> None:
    loaded, connector = local
    run = _write_between(connector.path, writes=100)
    monkeypatch.setattr(whatif_module, "run", run)
    result = CliRunner().invoke(cli, ["--config", str(loaded.file), "plan", "--as-of",
                                      AS_OF.isoformat(), "--set", CHANGE])
    assert result.exit_code == 3, result.output
    assert f"written to while the what-if read it, in each of {TRIES} tries" in result.output
    assert len(run.made) == 2 * TRIES


def test_a_crm_behind_an_api_is_pulled_once_for_both_plans(
        tmp_path: Path, demo_records: dict[str, list[dict[str, Any]]]) -> None:
    """On HubSpot (the fake portal) a what-if costs the API calls of one plan, also for a change
    that reads more of the accounts that are not key: the one pull holds every kind of each."""
    every = tmp_path / "kam-core-every-account"
    shutil.copytree(builtin_dir() / "kam-core", every)
    rules = every / "rules" / "relationship.yaml"
    rule = "  when: {fact: contacts, lt: {param: min_contacts}}\n"
    rules.write_text(rules.read_text().replace(rule, "  scope: all_accounts\n" + rule))
    fake, url, ids = start_fake(demo_records, window=0.2)  # HubSpot's 10 s, scaled down
    try:
        ws = HsWorkspace(tmp_path / "hs", fake, url)
        ws.write_config()
        code, plan = ws.run_json("plan")
        assert code == 0 and plan["api_calls"] > 0
        calls = sum(fake.calls.values())
        proc = ws.cli("plan", "--as-of", ANCHOR.isoformat(), "--json", "--pack", str(every))
        assert proc.returncode == 0, proc.stderr
        result = json.loads(proc.stdout)
        assert result["pulls"] == 1
        assert sum(fake.calls.values()) - calls == result["api_calls"] == plan["api_calls"]
        created = [d["fingerprint"].rsplit("/", 1) for d in result["created"]]
        key = {ids["accounts"][a["id"]] for a in demo_records["accounts"] if a["is_key"]}
        assert created and {rule for rule, _ in created} == {"kam-core/KAM-REL-004"}
        assert not {account for _, account in created} & key  # their contacts were pulled
    finally:
        fake.stop()


def test_workers_given_on_the_command_line_evaluate_both_plans(
        local: tuple[LoadedConfig, LocalCrm], monkeypatch: pytest.MonkeyPatch) -> None:
    """`plan --workers 1 --set ...` evaluated both plans on the machine's cores before."""
    loaded, _ = local
    asked: list[Any] = []
    real = whatif_module.run

    def run(*args: Any, **kwargs: Any) -> Any:
        asked.append(kwargs.get("workers"))
        return real(*args, **kwargs)

    monkeypatch.setattr(whatif_module, "run", run)
    result = CliRunner().invoke(cli, ["--config", str(loaded.file), "plan", "--as-of",
                                      AS_OF.isoformat(), "--workers", "1", "--set", CHANGE])
    assert result.exit_code == 0, result.output
    assert asked == [1, 1]
