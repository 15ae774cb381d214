"""Loaded packs come back from the cache only while their files and kamrules' code are
unchanged (kamrules/language/pack_cache.py); a damaged or unwritable cache only costs time."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from kamrules.language import loader, pack_cache
from kamrules.language.loader import builtin_dir, load_pack


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[Path]:
    """Packs really loaded (not from the cache), with the cache in a folder of this test."""
    monkeypatch.setenv(pack_cache.ENV, str(tmp_path / "cache"))
    seen: list[Path] = []
    real = loader._load_pack

    def counted(directory: Path, chain: tuple[str, ...] = ()) -> Any:
        seen.append(directory)
        return real(directory, chain)

    monkeypatch.setattr(loader, "_load_pack", counted)
    return seen


def _copy(tmp_path: Path) -> Path:
    return Path(shutil.copytree(builtin_dir() / "kam-core", tmp_path / "kam-core"))


def test_a_pack_loaded_again_comes_from_the_cache(tmp_path: Path, parses: list[Path]) -> None:
    pack = _copy(tmp_path)
    first = load_pack(pack)
    second = load_pack(pack)
    assert len(parses) == 1 and second == first and second is not first
    assert len(list((tmp_path / "cache").glob("*.pickle"))) == 1


def test_a_changed_or_added_file_is_read_again(tmp_path: Path, parses: list[Path]) -> None:
    pack = _copy(tmp_path)
    before = load_pack(pack)
    text = (pack / "pack.yaml").read_text()
    (pack / "pack.yaml").write_text(text.replace(f"version: {before.version}", "version: 9.9.9", 1))
    assert load_pack(pack).version == "9.9.9" and len(parses) == 2
    rule = sorted((pack / "rules").glob("*.yaml"))[0]
    (pack / "rules" / "zz-copy.yaml").write_text(rule.read_text())  # the same ids twice
    with pytest.raises(Exception, match="(?i)duplicate|already|twice"):
        load_pack(pack)
    (pack / "rules" / "zz-copy.yaml").unlink()  # the files of the second load again: its entry
    assert load_pack(pack).version == "9.9.9" and len(parses) == 3


def test_a_change_in_the_base_pack_is_seen_through_the_extending_one(
        tmp_path: Path, parses: list[Path]) -> None:
    base = _copy(tmp_path)
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "pack.yaml").write_text("id: mine\nversion: 1.0.0\ndescription: mine\nextends: ../kam-core\n")
    first = load_pack(mine)
    assert load_pack(mine) == first and len(parses) == 2  # the pack, then its base within
    text = (base / "pack.yaml").read_text()
    (base / "pack.yaml").write_text(text.replace(f"version: {first.base.version}", "version: 7.0.0", 1))
    assert load_pack(mine).base.version == "7.0.0"


@pytest.mark.parametrize("damage", ["garbage", "truncated", "folder"])
def test_a_damaged_cache_costs_only_time(tmp_path: Path, parses: list[Path], damage: str) -> None:
    pack = _copy(tmp_path)
    first = load_pack(pack)
    (entry,) = (tmp_path / "cache").glob("*.pickle")
    if damage == "garbage":
        entry.write_bytes(b"\x80\x05not a pickle at all")
    elif damage == "truncated":
        entry.write_bytes(entry.read_bytes()[:100])
    else:  # the cache folder is a file: nothing can be written there
        shutil.rmtree(tmp_path / "cache")
        (tmp_path / "cache").write_text("not a folder")
    assert load_pack(pack) == first and len(parses) == 2
    if damage != "folder":
        assert load_pack(pack) == first and len(parses) == 2  # rewritten by the load above


def test_the_cache_can_be_turned_off(tmp_path: Path, parses: list[Path],
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(pack_cache.ENV, "off")
    pack = _copy(tmp_path)
    load_pack(pack)
    load_pack(pack)
    assert len(parses) == 2 and not (tmp_path / "cache").exists()


def test_a_change_in_kamrules_code_is_a_miss(tmp_path: Path, parses: list[Path],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    pack = _copy(tmp_path)
    load_pack(pack)
    monkeypatch.setattr(pack_cache, "code_fingerprint", lambda: "another version of kamrules")
    load_pack(pack)
    assert len(parses) == 2


LOCALES = ("en", "ru", "sr")


def _per_locale(pack: Any, what: Callable[[Any], Any]) -> dict[str, Any]:
    """`what(pack)` with the pack set to each locale in turn."""
    out = {}
    for locale in LOCALES:
        pack.locale = locale
        out[locale] = what(pack)
    return out


@contextmanager
def _a_fresh_process_parsing_no_text(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """As in a process that did not load the pack: no text's names known, and parsing a Jinja
    text again fails the test."""
    from kamrules.language import template
    from kamrules.writeback.tasks import text_names

    monkeypatch.setattr(template, "_NAMES", {})
    text_names.cache_clear()

    def refused(source: str) -> None:
        raise AssertionError(f"checked again: {source[:40]!r}")

    monkeypatch.setattr(template._CHECKER, "parse", refused)
    try:
        yield
    finally:
        text_names.cache_clear()  # holds names found while parsing was refused


def test_a_cached_pack_brings_the_names_its_texts_read(tmp_path: Path, parses: list[Path],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """A process that reads kam-core from the cache (a run's workers and renderers) checks none
    of its ~300 task texts again: the load that wrote the entry found their names."""
    from kamrules.writeback.tasks import template_facts

    def facts(pack: Any) -> dict[str, Any]:
        return {r.id: template_facts(pack, r) for r in pack.rules}

    pack = _copy(tmp_path)
    expected = _per_locale(load_pack(pack), facts)
    assert expected["en"]["KAM-DONT-002"] == expected["ru"]["KAM-DONT-002"] != ()
    with _a_fresh_process_parsing_no_text(monkeypatch):
        assert _per_locale(load_pack(pack), facts) == expected
    assert len(parses) == 1


def test_cached_plays_bring_the_names_their_steps_read(tmp_path: Path, parses: list[Path],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """A run looks up what every play step's text reads, in the run's locale: a process that
    reads the pack and its plays from the cache parses none of those texts again (it parsed
    kam-core's 49 step texts, subject and body, on every run)."""
    from kamrules.playbooks import loader as plays_loader
    from kamrules.playbooks.advance import Plays
    from kamrules.playbooks.loader import plays_of

    def facts(pack: Any) -> tuple[str, ...]:
        return Plays(plays_of([pack])).names

    pack = _copy(tmp_path)
    expected = _per_locale(load_pack(pack), facts)
    assert expected["en"] and expected["en"] == expected["ru"]
    monkeypatch.setattr(plays_loader, "_CACHE", {})  # parsed plays a process keeps
    with _a_fresh_process_parsing_no_text(monkeypatch):
        assert _per_locale(load_pack(pack), facts) == expected
    assert len(parses) == 1
