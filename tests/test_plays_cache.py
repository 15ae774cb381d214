"""A pack's plays come back from the pack cache (kamrules/language/pack_cache.py) only while
the files of its folders and kamrules' code are unchanged; a play file with problems is
reported every time (errors are never cached)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from kamrules.errors import ValidationFailed
from kamrules.language import pack_cache
from kamrules.language.loader import builtin_dir, load_pack
from kamrules.playbooks import loader


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[Path]:
    """Play files really parsed (not from either cache), with the disk cache in this test's
    folder; the in-process cache is emptied before each load (`_load` below)."""
    monkeypatch.setenv(pack_cache.ENV, str(tmp_path / "cache"))
    seen: list[Path] = []
    real = loader._parsed

    def counted(pack: Any, files: list[Path], taken: dict[str, str]) -> Any:
        seen.append(pack.directory)
        return real(pack, files, taken)

    monkeypatch.setattr(loader, "_parsed", counted)
    return seen


def _load(directory: Path) -> list[Any]:
    loader._CACHE.clear()  # as a new process: only the disk cache is left
    return loader.load_plays(load_pack(directory))


def test_plays_loaded_again_come_from_the_cache_until_a_file_changes(
        tmp_path: Path, parses: list[Path]) -> None:
    pack = Path(shutil.copytree(builtin_dir() / "kam-core", tmp_path / "kam-core"))
    first = _load(pack)
    assert _load(pack) == first and len(parses) == 1
    plays = pack / "playbooks" / "plays.yaml"
    plays.write_text(plays.read_text().replace("Onboarding after the first win", "Onboarding"))
    changed = _load(pack)
    assert len(parses) == 2 and changed[0].title == "Onboarding" != first[0].title
    assert _load(pack) == changed and len(parses) == 2


def test_a_broken_play_file_is_reported_every_time(tmp_path: Path, parses: list[Path]) -> None:
    pack = Path(shutil.copytree(builtin_dir() / "kam-core", tmp_path / "kam-core"))
    _load(pack)
    plays = pack / "playbooks" / "plays.yaml"
    plays.write_text(plays.read_text().replace("fact: won_deals_12m", "fact: won_deals_12"))
    for _ in range(2):
        with pytest.raises(ValidationFailed) as failed:
            _load(pack)
        assert "won_deals_12" in str(failed.value)
    assert len(parses) == 3


def test_the_plays_cache_can_be_turned_off(tmp_path: Path, parses: list[Path],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    pack = Path(shutil.copytree(builtin_dir() / "kam-core", tmp_path / "kam-core"))
    monkeypatch.setenv(pack_cache.ENV, "off")
    assert _load(pack) == _load(pack) and len(parses) == 2
