"""The progress bar a terminal shows during `run`, `plan` and `report`: drawn as the work
reports, never by a thread of its own (a run forks its workers while the bar is up)."""

from __future__ import annotations

import io
import threading

import pytest
from rich.console import Console

from kamrules.cli import common


def test_the_bar_is_drawn_without_a_thread_of_its_own(monkeypatch: pytest.MonkeyPatch) -> None:
    shown = io.StringIO()
    monkeypatch.setattr(common, "err", Console(file=shown, force_terminal=True, width=80))
    before = threading.active_count()
    with common.progress_display(True) as update:
        update("pull", 5, 10)
        assert threading.active_count() == before, "a thread draws the bar: forks would copy it"
        update("pull", 10, 10)
        update("evaluate", 3, None)
        assert "pull" in shown.getvalue() and "100%" in shown.getvalue()
    assert threading.active_count() == before


def test_no_bar_where_stderr_is_not_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    shown = io.StringIO()
    monkeypatch.setattr(common, "err", Console(file=shown, force_terminal=False, width=80))
    with common.progress_display(True) as update:
        update("pull", 10, 10)
    assert shown.getvalue() == ""
