"""Shared fixtures: a fixed anchor date, the demo portfolio and a local-CRM workspace."""

from __future__ import annotations

import json
import os
import subprocess
import sys
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

ANCHOR = date(2026, 11, 1)
# loaded packs cached per test session, not in the user's ~/.cache (language/pack_cache.py)
os.environ.setdefault("KAMRULES_CACHE_DIR", tempfile.mkdtemp(prefix="kamrules-test-cache-"))
ROOT = Path(__file__).resolve().parent.parent
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
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        proc = subprocess.run(
            [sys.executable, "-m", "kamrules", *args], cwd=self.root, env=env,
            capture_output=True, text=True, timeout=300,
        )
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


@pytest.fixture
def workspace(tmp_path: Path, demo_records: dict[str, list[dict[str, Any]]]) -> Workspace:
    return make_workspace(tmp_path / "ws", demo_records)


@pytest.fixture
def workspace_factory(tmp_path: Path) -> Callable[..., Workspace]:
    counter = iter(range(1000))

    def make(records: dict[str, list[dict[str, Any]]] | None, extra_config: str = "") -> Workspace:
        return make_workspace(tmp_path / f"ws{next(counter)}", records, extra_config)

    return make
