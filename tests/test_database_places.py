"""A database's place that is not a file (a device, a named pipe) is refused, exit 7 naming it
(kamrules/inputs/environment.database_place): a demo CRM seeded at `crm.path: /dev/null` was
put in the device's place (as root, the machine's /dev/null), and SQLite reads a device as an
empty database and writes into it, so a state store linked to one kept nothing, without a word."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

from kamrules.connectors.cache import RecordCache
from kamrules.errors import EnvironmentFailure
from tests import kamrules_process


def _plan(root: Path) -> subprocess.CompletedProcess[str]:
    return kamrules_process.run(["plan"], cwd=root, env=kamrules_process.environment(),
                                timeout=120)


def _config(root: Path, crm: str) -> None:
    (root / "kamrules.yaml").write_text(f"crm: {{type: local, path: {crm}, seed: demo}}\nstate_dir: state\n")


def _device(path: Path) -> None:
    if os.geteuid() == 0:
        os.mknod(path, 0o644 | stat.S_IFCHR, os.makedev(1, 3))  # a null device of its own
    else:
        os.mkfifo(path)


def test_a_local_crm_at_a_device_or_a_pipe_is_refused_and_left_as_it_is(tmp_path: Path) -> None:
    _device(tmp_path / "crm.dev")
    _config(tmp_path, "crm.dev")
    done = _plan(tmp_path)
    assert done.returncode == 7, done.stderr
    assert f"local CRM {tmp_path / 'crm.dev'}: is a device or a pipe where a file is expected" in done.stderr
    kind = (tmp_path / "crm.dev").stat().st_mode
    assert stat.S_ISCHR(kind) or stat.S_ISFIFO(kind)  # not replaced by the demo CRM


def test_a_state_store_linked_to_a_pipe_is_refused(tmp_path: Path) -> None:
    _config(tmp_path, "crm.sqlite")
    (tmp_path / "state").mkdir()
    os.mkfifo(tmp_path / "pipe")
    (tmp_path / "state" / "state.sqlite").symlink_to(tmp_path / "pipe")
    done = _plan(tmp_path)
    assert done.returncode == 7, done.stderr
    assert "state store" in done.stderr and "is a device or a pipe where a file is expected" in done.stderr


def test_a_record_cache_at_a_pipe_is_refused(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "cache.sqlite")
    with pytest.raises(EnvironmentFailure, match="record cache .*: is a device or a pipe"):
        RecordCache(tmp_path / "cache.sqlite")
    assert stat.S_ISFIFO((tmp_path / "cache.sqlite").stat().st_mode)


def test_a_state_dir_that_is_a_file_says_so(tmp_path: Path) -> None:
    (tmp_path / "kamrules.yaml").write_text(
        "crm: {type: local, path: crm.sqlite, seed: empty}\nstate_dir: state\n")
    (tmp_path / "state").write_text("")
    done = _plan(tmp_path)
    assert done.returncode == 7, done.stderr
    assert f"state folder {tmp_path / 'state'}: is a file where a folder is expected" in done.stderr
