"""Files kamrules writes for people (a report, the snoozes) are written whole or not at all,
as `open()` would make them, through a link (kamrules/inputs/environment.write_whole)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from kamrules.inputs.environment import write_whole


def test_a_file_written_whole_keeps_what_open_would_make_and_writes_through_a_link(
        tmp_path: Path) -> None:
    real = tmp_path / "shared" / "snoozes.yaml"
    real.parent.mkdir()
    real.write_text("old")
    link = tmp_path / "snoozes.yaml"
    link.symlink_to(real)  # a dotfiles checkout, say: the link stays, the file changes
    write_whole(link, "new", "snoozes file")
    assert link.is_symlink() and real.read_text() == "new"
    fresh = tmp_path / "report.html"
    write_whole(fresh, "<html>", "report file")
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o666 & ~umask  # not mkstemp's 0600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html", "shared", "snoozes.yaml"]


def test_a_place_that_is_not_a_file_is_written_as_it_is(tmp_path: Path) -> None:
    """`report -o /dev/stdout`, a named pipe, a device: a file put in its place replaced it (as
    root, `-o /dev/null` replaced the device with a regular file)."""
    import threading

    pipe = tmp_path / "report.fifo"
    os.mkfifo(pipe)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(pipe.read_bytes()), daemon=True)
    reader.start()
    write_whole(pipe, "<html>report</html>", "report file")
    reader.join(10)
    assert got == [b"<html>report</html>"]
    assert stat.S_ISFIFO(pipe.stat().st_mode)  # still the pipe
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.fifo"]


def test_report_to_stdout_by_its_device_name(tmp_path: Path) -> None:
    import subprocess
    import sys

    root = Path(__file__).resolve().parent.parent
    done = subprocess.run([sys.executable, "-m", "kamrules", "report", "--format", "json", "-o",
                           "/dev/stdout"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=300, env=dict(os.environ, PYTHONPATH=str(root)))
    assert done.returncode == 0, done.stderr
    # the report alone: the summary line went after it into the same stream
    assert "accounts" in __import__("json").loads(done.stdout)
    assert "wrote /dev/stdout: 40 key accounts" in done.stderr
