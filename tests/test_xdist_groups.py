"""The parallel run's grouping (tests/conftest.py): every module that asks for one worker gets it."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import ROOT, _one_worker_modules


def test_every_module_marked_with_an_xdist_group_is_sent_whole_to_one_worker() -> None:
    here = Path(__file__).resolve()
    marked = {f"tests/{p.name}" for p in here.parent.glob("test_*.py")
              if p != here and "xdist_group" in p.read_text(encoding="utf-8")}
    # a marker written another way would be missed, and its module fixture built on every worker
    assert _one_worker_modules(ROOT) == marked
    assert {"tests/test_hostile.py", "tests/test_distributed.py"} <= marked
