"""A message that names a value the user gave shows an overlong one by its start and end
(kamrules/inputs/sanitize.py `clipped`): a 100,000-character argument was echoed whole."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from kamrules.inputs.sanitize import CLIP_HEAD, CLIP_TAIL, LONG_MESSAGE, LONG_RUN, clipped
from tests import kamrules_process

LONG = "Q" * 50_000 + "Z" * 50_000  # its start and its end differ, so both can be checked


def _kamrules(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = kamrules_process.environment()
    return kamrules_process.run(args, cwd=tmp_path, env=env, timeout=120)


def test_clipped_keeps_short_values_and_shows_a_long_ones_ends() -> None:
    path = "/srv/" + "deep/" * 150  # 755 characters: a long path stays whole
    assert clipped(f"error {path}: not found") == f"error {path}: not found"
    assert clipped("word " * 300) == "word " * 300  # long, but no long value in it
    text = clipped(f"error '{LONG}' is not a date")
    assert text.startswith("error '" + "Q" * (CLIP_HEAD - 1))
    assert text.endswith("Z" * (CLIP_TAIL - 1) + "' is not a date")
    assert f"...({len(LONG) + 2 - CLIP_HEAD - CLIP_TAIL:,} characters not shown)..." in text
    assert len(text) < 400
    spaced = clipped("ab " * 40_000)  # a long message with no long value: its ends
    assert len(spaced) < LONG_MESSAGE and spaced.startswith("ab ab") and spaced.endswith("ab ")
    assert clipped("x" * LONG_RUN) == "x" * LONG_RUN


@pytest.mark.parametrize("args", [
    ("run", "--as-of", LONG),          # click's usage error
    (LONG,),                           # no such command
    ("packs", LONG),                   # an unexpected argument
    ("--config", LONG, "run"),         # kamrules' own error (the file name too long)
    ("validate", LONG),
])
def test_a_long_argument_is_shown_by_its_ends(tmp_path: Path, args: tuple[str, ...]) -> None:
    done = _kamrules(tmp_path, *args)
    assert done.returncode in (2, 7), done.stderr[:2000]
    assert len(done.stderr) < 2_000, done.stderr[:2000]
    assert "Q" * 100 in done.stderr and "Z" * 60 in done.stderr
    assert "characters not shown" in done.stderr


def test_a_json_error_is_clipped_too(tmp_path: Path) -> None:
    done = _kamrules(tmp_path, "--config", LONG, "validate", "--format", "json")
    assert done.returncode == 7, done.stderr[:2000]
    report = json.loads(done.stdout)
    assert "characters not shown" in report["error"] and len(report["error"]) < 1_000


def test_a_runs_json_report_clips_its_error_too(tmp_path: Path) -> None:
    done = _kamrules(tmp_path, "run", "--json", "--config", LONG)
    assert done.returncode == 7, done.stderr[:2000]
    report = json.loads(done.stdout)
    assert report["outcome"] == "error" and "characters not shown" in report["error"]
    assert len(report["error"]) < 1_000
