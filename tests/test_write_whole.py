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
