"""A run compiles the templates of its rules' texts before it forks the text renderers
(`compile_texts`, kamrules/run/rendering.py `prepare`), so the renderers inherit them instead
of compiling each pack's templates again (issue #18); the texts are the same."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from kamrules.language import template
from kamrules.run import rendering, sync
from tests.conftest import run_on_demo

DAY = date(2026, 11, 1)
RENDERER = sync.renderer


def _run(root: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[dict[str, tuple[str, str]], Path]:
    """A first run on two workers with every text rendered on forked renderers; each render
    in a renderer notes there how many templates it compiled."""
    log = root / "compiled.log"
    parent = os.getpid()

    def counting(rules: Any) -> Any:
        render = RENDERER(rules)

        def text(desired: Any) -> tuple[str, str]:
            before = template._compiled.cache_info().misses  # noqa: SLF001
            out = render(desired)
            if os.getpid() != parent:
                with log.open("a") as f:
                    f.write(f"{template._compiled.cache_info().misses - before}\n")  # noqa: SLF001
            return out

        return text

    monkeypatch.setattr(rendering, "PARALLEL_FROM", 1)
    monkeypatch.setattr(sync, "renderer", counting)
    report, tasks = run_on_demo(root, DAY, 120, chunk_size=40, digest=False, workers=2)
    created = {c.fingerprint for c in report.changes if c.action == "create"}
    return {t.fingerprint: (t.subject, t.body) for t in tasks if t.fingerprint in created}, log


def test_renderers_compile_no_template_and_render_the_same_texts(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    template._compiled.cache_clear()  # noqa: SLF001 - as in a fresh process
    texts, log = _run(tmp_path / "prepared", monkeypatch)
    compiled = [int(n) for n in log.read_text().split()]
    assert len(compiled) >= 10 and texts, "the texts were rendered on forked renderers"
    assert sum(compiled) == 0
    # without it each renderer compiles the templates it meets: the same texts
    template._compiled.cache_clear()  # noqa: SLF001
    monkeypatch.setattr(sync, "compile_texts", lambda packs, as_of: None)
    again, log = _run(tmp_path / "unprepared", monkeypatch)
    assert sum(int(n) for n in log.read_text().split()) > 0
    assert again == texts
