"""Every item of the hostile-input corpus through the CLI: a named exit, a located message, in
bounded time and memory, never exit 5 (issue #13).

Each item runs in its own subprocess under an address-space limit (a runaway parse dies rather
than swapping the machine); its CPU time and peak memory are read from the kernel (wait4).
Items run a few at a time, so the corpus stays well under a minute on two cores.
"""

from __future__ import annotations

import os
import re
import resource
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.hostile.generate import Item, items

ROOT = Path(__file__).resolve().parent.parent
CPU_SECONDS = 10.0  # the bound for any input under 1 MB
WALL_SECONDS = 40.0  # a hang (a FIFO, /dev/zero) is killed here and fails the item
PEAK_BYTES = 500 * 2**20
ADDRESS_SPACE = 3 * 2**30  # virtual: the interpreter and durable_rules map ~1 GB untouched
UNSAFE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
ITEMS = items()
# xdist: the corpus runs once, in the module fixture, on one worker
pytestmark = pytest.mark.xdist_group("hostile")


@dataclass
class Outcome:
    root: Path
    code: int | None
    stdout: str
    stderr: str
    cpu: float
    peak: int
    wall: float


def _limits() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))


# A process forked from this (large) pytest process and exec'd inherits its resident size as the
# starting point of ru_maxrss, so the item would be charged for pytest's memory. A small launcher
# forks the item from itself and reports the item's own peak (argv: peak file, then the item's).
LAUNCHER = """import os, sys
pid = os.fork()
if pid == 0:
    os.execv(sys.executable, [sys.executable, "-m", "kamrules", *sys.argv[2:]])
_, status, usage = os.wait4(pid, 0)
open(sys.argv[1], "w").write(str(usage.ru_maxrss * 1024))
sys.exit(os.waitstatus_to_exitcode(status))
"""


def run_item(item: Item, root: Path) -> Outcome:
    root.mkdir(parents=True)
    item.build(root)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200", **item.env}
    env.pop("KAMRULES_DEBUG", None)
    out, err, peak_file = root / ".stdout", root / ".stderr", root.parent / f"{root.name}.peak"
    started = time.monotonic()
    with out.open("wb") as o, err.open("wb") as e:
        proc = subprocess.Popen([sys.executable, "-c", LAUNCHER, str(peak_file), *item.argv],
                                cwd=root, env=env, stdin=subprocess.DEVNULL, stdout=o, stderr=e,
                                preexec_fn=_limits, start_new_session=True)
        code: int | None = None
        usage = None
        while time.monotonic() - started < WALL_SECONDS:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                code = os.waitstatus_to_exitcode(status)
                break
            time.sleep(0.05)
        else:
            os.killpg(proc.pid, 9)  # the launcher and the item
            _, _, usage = os.wait4(proc.pid, 0)
        proc.returncode = code if code is not None else -9
    assert usage is not None
    return Outcome(root, code, out.read_text(errors="replace"), err.read_text(errors="replace"),
                   usage.ru_utime + usage.ru_stime,
                   int(peak_file.read_text()) if peak_file.exists() else usage.ru_maxrss * 1024,
                   time.monotonic() - started)


def _selected(request: pytest.FixtureRequest) -> set[str]:
    """The items the session will look at (`-k` may pick a few): only those are run."""
    names = set()
    for test in request.session.items:
        if getattr(test, "module", None) is not sys.modules[__name__]:
            continue
        params = getattr(getattr(test, "callspec", None), "params", {})
        names.add(params["item"].name if "item" in params else "hostile-names-run")
    return names


@pytest.fixture(scope="module")
def outcomes(request: pytest.FixtureRequest,
             tmp_path_factory: pytest.TempPathFactory) -> dict[str, Outcome]:
    base = tmp_path_factory.mktemp("hostile")
    wanted = _selected(request)
    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = {item.name: pool.submit(run_item, item, base / item.name)
                   for item in ITEMS if item.name in wanted}
        return {name: f.result() for name, f in futures.items()}


@pytest.mark.slow
@pytest.mark.parametrize("item", ITEMS, ids=[i.name for i in ITEMS])
def test_hostile_item(item: Item, outcomes: dict[str, Outcome]) -> None:
    got = outcomes[item.name]
    shown = f"exit {got.code}\nstdout:\n{got.stdout[-2000:]}\nstderr:\n{got.stderr[-3000:]}"
    assert got.code is not None, f"no exit within {WALL_SECONDS}s (a hang)\n{shown}"
    assert got.code != 5, shown
    assert got.code in item.exits, shown
    assert got.cpu < CPU_SECONDS, f"{got.cpu:.1f}s of CPU\n{shown}"
    assert got.peak < PEAK_BYTES, f"peak memory {got.peak / 2**20:.0f} MB\n{shown}"
    for needle in item.stderr_has:
        assert needle in got.stderr, f"{needle!r} not in the message\n{shown}"
    assert len(got.stderr.splitlines()) < 200, "errors are capped per file"
    assert "Traceback" not in got.stderr, shown
    if item.clean_output:
        for stream in (got.stdout, got.stderr):
            assert not UNSAFE.search(stream.replace("\t", " ").replace("\n", " ")), shown
            cells = [c for line in stream.splitlines() for c in line.split("\t")]
            assert not [c for c in cells if c.startswith(("=", "+", "@"))], shown


def test_hostile_names_reach_tasks_cleaned(outcomes: dict[str, Outcome]) -> None:
    """The run with hostile account names wrote tasks whose text is as clean as its output."""
    import sqlite3

    db = sqlite3.connect(outcomes["hostile-names-run"].root / "crm.sqlite")
    rows = db.execute("SELECT subject, body FROM tasks").fetchall()
    db.close()
    assert rows, "the run created tasks"
    for subject, body in rows:
        assert not UNSAFE.search(subject) and not UNSAFE.search(body.replace("\n", " "))
        assert not subject.startswith(("=", "+", "-", "@"))
    subjects = " ".join(s for s, _ in rows)
    assert "Acme RED" in subjects and "Dee evil Co" in subjects  # the text itself is kept
