"""Shared fixtures: a fixed anchor date, the demo portfolio and a local-CRM workspace."""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from kamrules.connectors.local.crm import LocalCrm
from kamrules.connectors.local.demo import demo_portfolio
from kamrules.language.loader import LoadedPack, builtin_dir, load_pack
from kamrules.model import Snapshot
from tests import kamrules_process

ANCHOR = date(2026, 11, 1)
# loaded packs cached per test session, not in the user's ~/.cache (language/pack_cache.py)
os.environ.setdefault("KAMRULES_CACHE_DIR", tempfile.mkdtemp(prefix="kamrules-test-cache-"))
ROOT = Path(__file__).resolve().parent.parent
ONE_WORKER = re.compile(r"^pytestmark = pytest\.mark\.xdist_group\(", re.M)


def _one_worker_modules(rootpath: Path) -> frozenset[str]:
    """The node ids of the test modules marked `pytestmark = pytest.mark.xdist_group(...)`, read
    from their text (the xdist controller does not collect)."""
    here = Path(__file__).resolve().parent
    return frozenset(p.relative_to(rootpath).as_posix() for p in here.glob("test_*.py")
                     if ONE_WORKER.search(p.read_text(encoding="utf-8")))


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """`-n auto`: a worker more than the cores (`--maxprocesses` still caps it). Many tests wait
    on a subprocess, a local server or a redis-server; on two cores three workers ran the suite
    in 578 s against 662-667 s for two (bench/RESULTS.md, sixteenth pass)."""
    return (os.cpu_count() or 1) + 1


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """`--dist loadgroup` that works on pytest 9.2: xdist 3.8 tags a grouped test by assigning
    `item._nodeid`, which pytest 9.2 no longer reads, so every test went its own way and a
    module fixture (the hostile corpus, a redis deployment) was built once per worker. Here a
    marked module is one unit of work, sent whole to one worker; other tests go one by one."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadGroupScheduling

    grouped = _one_worker_modules(config.rootpath.resolve())

    class ModuleGroups(LoadGroupScheduling):
        def _split_scope(self, nodeid: str) -> str:
            scope = super()._split_scope(nodeid)
            module = nodeid.split("::", 1)[0]
            return module if scope == nodeid and module in grouped else scope

    return ModuleGroups(config, log)


@pytest.fixture(scope="session")
def anchor() -> date:
    return ANCHOR


@pytest.fixture(scope="session")
def demo_records() -> dict[str, list[dict[str, Any]]]:
    return demo_portfolio(ANCHOR)


@pytest.fixture(scope="session")
def demo_snapshot(demo_records: dict[str, list[dict[str, Any]]]) -> Snapshot:
    return Snapshot(as_of=ANCHOR, **demo_records)


@pytest.fixture
def kam_core() -> LoadedPack:
    return load_pack(builtin_dir() / "kam-core")


@dataclass
class Workspace:
    """A folder with a kamrules.yaml over a local CRM seeded with the demo portfolio."""

    root: Path

    @property
    def crm_path(self) -> Path:
        return self.root / "crm.sqlite"

    def crm(self) -> LocalCrm:
        return LocalCrm(self.crm_path)

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = kamrules_process.run(args, cwd=self.root, env=kamrules_process.environment())
        if check and proc.returncode != 0:
            raise AssertionError(f"kamrules {' '.join(args)} exited {proc.returncode}:\n"
                                 f"{proc.stdout}\n{proc.stderr}")
        return proc

    def run_json(self, *args: str, command: str = "run") -> dict[str, Any]:
        proc = self.cli(command, "--as-of", ANCHOR.isoformat(), "--json", *args)
        return json.loads(proc.stdout)


def make_workspace(root: Path, records: dict[str, list[dict[str, Any]]] | None,
                   extra_config: str = "") -> Workspace:
    root.mkdir(parents=True, exist_ok=True)
    (root / "kamrules.yaml").write_text(
        "crm:\n  type: local\n  path: crm.sqlite\n  seed: empty\n"
        "packs: [kam-core]\nstate_dir: state\n"
        # these suites test write-back per finding; bundles are tested in test_bundles.py
        "overrides:\n  kam-core: {tasks: per_rule}\n" + extra_config
    )
    ws = Workspace(root)
    if records is not None:
        crm = ws.crm()
        for kind, rows in records.items():
            crm.insert_records(kind, rows)
        crm.close()
    return ws


def run_on_demo(root: Path, day: date, accounts: int, **options: Any) -> tuple[Any, list[Any]]:
    """`kamrules.run.sync.run` in-process, first run over a local CRM in `root` seeded with
    `accounts` of the demo portfolio (kam-core as shipped): its report and the CRM's tasks."""
    from kamrules.cli.wiring import open_connector
    from kamrules.run.config import load_config, load_configured_packs
    from kamrules.run.sync import run

    root.mkdir(parents=True)
    (root / "kamrules.yaml").write_text(
        "crm: {type: local, path: crm.sqlite, seed: empty}\nstate_dir: state\n")
    loaded = load_config(root / "kamrules.yaml")
    connector = open_connector(loaded)
    try:
        for kind, rows in demo_portfolio(day, accounts=accounts).items():
            connector.insert_records(kind, rows)
        report = run(connector, load_configured_packs(loaded), loaded, day, False, **options)
        return report, connector.all_tasks()
    finally:
        connector.close()


@pytest.fixture
def workspace(tmp_path: Path, demo_records: dict[str, list[dict[str, Any]]]) -> Workspace:
    return make_workspace(tmp_path / "ws", demo_records)


@pytest.fixture
def workspace_factory(tmp_path: Path) -> Callable[..., Workspace]:
    counter = iter(range(1000))

    def make(records: dict[str, list[dict[str, Any]]] | None, extra_config: str = "") -> Workspace:
        return make_workspace(tmp_path / f"ws{next(counter)}", records, extra_config)

    return make
