"""Compiled Jinja texts kept on disk (language/template_code.py): a later process renders what a
fresh compile renders, per locale, and a damaged entry is compiled past, then written anew."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from kamrules.language import template, template_code

AS_OF = date(2026, 11, 1)
# Jinja folds constants through the environment's `finalize` while compiling: the code of this
# text differs by locale (1,234,568 / 1 234 568, yes / да)
TEXT = "{{ 1234567.5 }} and {{ true }}, {{ n|num }} contacts"
EXPECTED = {"en": "1,234,568 and yes, 3.5 contacts", "ru": "1\xa0234\xa0568 and да, 3,5 contacts"}


def _later_process() -> None:
    """Forget what this process compiled and read, as a new command starts."""
    template._compiled.cache_clear()  # noqa: SLF001
    template_code._held.clear()  # noqa: SLF001
    template_code._new.clear()  # noqa: SLF001


@pytest.fixture()
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("KAMRULES_CACHE_DIR", str(tmp_path))
    _later_process()
    yield tmp_path
    _later_process()


def _entries(folder: Path) -> list[Path]:
    return sorted(folder.glob(f"*{template_code.SUFFIX}"))


def _render(locale: str) -> str:
    return template.render_jinja(TEXT, {"n": 3.5}, locale, "EUR", AS_OF)


def test_a_later_process_uses_the_entry_and_renders_the_same_per_locale(
        cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = {locale: _render(locale) for locale in EXPECTED}
    assert first == EXPECTED
    template_code._write_new()  # noqa: SLF001 - what the process runs at exit
    assert len(_entries(cache)) == 2  # one per locale: the folded constants differ
    _later_process()

    log: list[str] = []
    monkeypatch.setattr(template, "code_of", _counting(template_code.code_of, log))
    assert {locale: _render(locale) for locale in ("ru", "en")} == EXPECTED
    assert log == [], "the entries' code was compiled again"

    # and a locale with no entry yet is compiled, not given another locale's code
    assert template.render_jinja(TEXT, {"n": 3.5}, "sr", "EUR", AS_OF).startswith("1.234.568 and da")
    assert log == ["compiled"]


def _counting(code_of: object, log: list[str]) -> object:
    def counted(setting: str, source: str, compile_text: object) -> object:
        def compile_and_log() -> object:
            log.append("compiled")
            return compile_text()  # type: ignore[operator]
        return code_of(setting, source, compile_and_log)  # type: ignore[operator]
    return counted


@pytest.mark.parametrize("damage", ["truncated", "bit flipped", "empty", "other types"])
def test_a_damaged_entry_is_compiled_past_and_written_anew(cache: Path, damage: str,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    assert _render("en") == EXPECTED["en"]
    template_code._write_new()  # noqa: SLF001
    (entry,) = _entries(cache)
    data = entry.read_bytes()
    if damage == "truncated":
        entry.write_bytes(data[: len(data) // 2])
    elif damage == "bit flipped":
        entry.write_bytes(data[:-10] + bytes([data[-10] ^ 0x40]) + data[-9:])
    elif damage == "empty":
        entry.write_bytes(b"")
    else:  # checksummed as this module writes, but not texts and their code
        import hashlib
        import marshal

        body = marshal.dumps({TEXT: "print('not code')"})
        entry.write_bytes(hashlib.sha256(body).digest() + body)
    _later_process()

    log: list[str] = []
    monkeypatch.setattr(template, "code_of", _counting(template_code.code_of, log))
    assert _render("en") == EXPECTED["en"]
    assert log == ["compiled"]
    template_code._write_new()  # noqa: SLF001
    _later_process()
    assert TEXT in template_code._read(entry)  # noqa: SLF001


def test_off_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAMRULES_CACHE_DIR", "off")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setenv("HOME", str(tmp_path))
    _later_process()
    try:
        assert _render("ru") == EXPECTED["ru"]
        template_code._write_new()  # noqa: SLF001
        assert not list(tmp_path.rglob(f"*{template_code.SUFFIX}"))
    finally:
        _later_process()


def test_the_next_nights_run_renders_its_own_dates_from_the_entry(
        cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A nightly run's date changes every night: the codes are kept by locale and currency,
    and `ago` (the filter reading the date) is never folded into them, even of a constant."""
    text = "{{ 30|ago }} / {{ n|ago }}"
    assert template.render_jinja(text, {"n": 1}, "en", "EUR", AS_OF) == "Oct 2, 2026 / Oct 31, 2026"
    template_code._write_new()  # noqa: SLF001
    _later_process()

    log: list[str] = []
    monkeypatch.setattr(template, "code_of", _counting(template_code.code_of, log))
    next_night = date(2026, 11, 2)
    assert template.render_jinja(text, {"n": 1}, "en", "EUR", next_night) == "Oct 3, 2026 / Nov 1, 2026"
    assert log == [], "the next night compiled its texts again"
