"""The tests' forked `kamrules` (tests/kamrules_process.py) gives what a new process gives."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from kamrules.connectors.local.demo import demo_portfolio
from tests import kamrules_process
from tests.conftest import ANCHOR, ROOT, Workspace

SMALL = demo_portfolio(ANCHOR, accounts=30)
AS_OF = ["--as-of", ANCHOR.isoformat()]


def new_process(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kamrules", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("args", [["--version"], ["validate"], ["plan", *AS_OF], ["nosuch"],
                                  ["run", *AS_OF, "--lock-wait", "-1"], ["explain", "ACC-9999"]],
                         ids=["version", "validate", "plan", "unknown-command", "bad-option",
                              "explain-unknown"])
def test_a_forked_command_prints_and_exits_as_a_new_process(
        workspace_factory: Callable[..., Workspace], args: list[str]) -> None:
    ws = workspace_factory(SMALL)
    env = kamrules_process.environment()
    forks = kamrules_process.FORKED[0]
    forked = kamrules_process.run(args, cwd=ws.root, env=env)
    assert kamrules_process.FORKED[0] == forks + 1  # it was a fork
    fresh = new_process(args, ws.root, env)
    assert (forked.returncode, forked.stdout, forked.stderr) == (
        fresh.returncode, fresh.stdout, fresh.stderr)


def test_a_forked_run_writes_what_a_new_process_writes_and_dies_at_a_crash_point(
        workspace_factory: Callable[..., Workspace]) -> None:
    crms = []
    for start in (kamrules_process.run, lambda a, cwd, env: new_process(a, cwd, env)):
        ws = workspace_factory(SMALL)
        env = kamrules_process.environment(KAMRULES_CRASH_AT="write:5")
        crashed = start(["run", *AS_OF], cwd=ws.root, env=env)
        assert crashed.returncode == 137, crashed.stderr
        env.pop("KAMRULES_CRASH_AT")
        done = start(["run", *AS_OF], cwd=ws.root, env=env)
        assert done.returncode == 0, done.stderr
        crms.append(sorted((t.fingerprint, t.subject, t.body, t.status)
                           for t in ws.crm().all_tasks()))
    assert crms[0] == crms[1] and crms[0]


def test_what_python_reads_as_it_starts_is_given_to_a_new_interpreter(tmp_path: Path) -> None:
    # only an interpreter that starts reads PYTHONPROFILEIMPORTTIME (and prints every import)
    env = kamrules_process.environment(PYTHONPROFILEIMPORTTIME="1")
    forks = kamrules_process.FORKED[0]
    got = kamrules_process.run(["--version"], cwd=tmp_path, env=env)
    assert kamrules_process.FORKED[0] == forks
    assert got.returncode == 0 and "import time:" in got.stderr and "| kamrules.cli.main" in got.stderr


# the server's imports with os.environ watched: every name read (ALL: the whole was read)
SPY = """
import json, os
read = set()
class Spy(type(os.environ)):
    def __getitem__(self, key):
        read.add(key)
        return super().__getitem__(key)
    def get(self, key, default=None):
        read.add(key)
        return super().get(key, default)
    def __contains__(self, key):
        read.add(key)
        return super().__contains__(key)
    def __iter__(self):
        read.add("ALL")
        return super().__iter__()
e = os.environ
os.environ = Spy(e._data, e.encodekey, e.decodekey, e.encodevalue, e.decodevalue)
from tests.kamrules_process import warm
warm()
print(json.dumps(sorted(read)))
"""


def test_what_the_server_imports_reads_only_what_a_fork_is_not_given() -> None:
    """The server imports what commands import as they run; a module reading the environment
    as it is imported would keep the server's value in every fork (a test setting it would
    never see it), unless the variable makes the command a new interpreter (`at_start`)."""
    proc = subprocess.run([sys.executable, "-c", SPY], cwd=ROOT,
                          env=kamrules_process.environment(), capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    read = json.loads(proc.stdout)
    assert "LC_TIME" in read  # Babel's default locale for dates, read as it is imported
    assert [name for name in read if not kamrules_process.at_start(name)] == []


def test_a_forked_command_past_its_timeout_is_killed_and_the_next_runs(
        workspace_factory: Callable[..., Workspace]) -> None:
    from kamrules.run.config import crm_section, load_config
    from kamrules.run.lock import RunLock, lock_path

    ws = workspace_factory(SMALL)
    env = kamrules_process.environment()
    loaded = load_config(ws.root / "kamrules.yaml")
    with RunLock(lock_path(loaded.state_dir, crm_section(loaded)), 0), \
            pytest.raises(subprocess.TimeoutExpired):
        kamrules_process.run(["run", *AS_OF, "--lock-wait", "60"], cwd=ws.root, env=env, timeout=2)
    assert kamrules_process.run(["run", *AS_OF], cwd=ws.root, env=env).returncode == 0
