"""The `kamrules` process ends as soon as a command is done (kamrules/cli/main.py `_end_now`):
its exit code and every byte of its output as before, exit handlers run, and no interpreter
teardown after them; where that would be unsafe (another thread, a text exit code) it exits the
usual way."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PROBE = """
import atexit, sys, threading, time
import kamrules.cli.main as m
class Late:
    def __del__(self):
        print("torn down", flush=True)
late = Late()  # freed only by the interpreter's teardown
atexit.register(lambda: print("exit handler ran", flush=True))
mode = sys.argv[1]
if mode == "thread":
    threading.Thread(target=time.sleep, args=(0.2,)).start()
if mode == "text":
    def in_words(*args, **kwargs):
        raise SystemExit("stopped in words")
    m.cli.main = in_words
sys.argv = ["kamrules", *sys.argv[2:]]
m.main()
"""


def _probe(mode: str, *args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-c", PROBE, mode, *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def test_a_finished_command_runs_exit_handlers_and_skips_teardown() -> None:
    done = _probe("plain", "--version")
    assert done.returncode == 0
    assert "kamrules" in done.stdout and "exit handler ran" in done.stdout
    assert "torn down" not in done.stdout


def test_exit_codes_are_kept(tmp_path: Path) -> None:
    bad = _probe("plain", "--config", str(tmp_path / "missing.yaml"), "run", cwd=tmp_path)
    assert bad.returncode == 2, bad.stderr
    assert "exit handler ran" in bad.stdout and "torn down" not in bad.stdout


def test_another_thread_or_a_text_code_exit_the_usual_way() -> None:
    threaded = _probe("thread", "--version")
    assert threaded.returncode == 0
    assert "exit handler ran" in threaded.stdout and "torn down" in threaded.stdout
    text = _probe("text")
    assert text.returncode == 1 and "stopped in words" in text.stderr
    assert "torn down" in text.stdout


def test_a_runs_json_report_arrives_whole_through_a_pipe(tmp_path: Path) -> None:
    (tmp_path / "kamrules.yaml").write_text(
        "crm: {type: local, path: crm.sqlite, seed: demo}\nstate_dir: state\n")
    done = subprocess.run([sys.executable, "-m", "kamrules", "run", "--as-of", "2026-11-01",
                           "--json"], cwd=tmp_path, env=dict(os.environ, PYTHONPATH=str(ROOT)),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["counts"]["created"] > 10 and len(report["changes"]) >= report["counts"]["created"]
