"""Compiled Jinja texts kept on disk beside the loaded packs, so a command does not compile the
same task texts again (issue #18).

Compiling kam-core's ~80 Jinja texts (parse, generate Python, compile it) is 0.12-0.17 s of a
~1 s first run on the demo portfolio, and every `run`, `plan`, `report` or `explain` that
renders a text paid it again. The code Jinja generates depends on the text, on Jinja's and
kamrules' code, and on what the environment folds into it while compiling (its `finalize` and
filters applied to constants: the locale and currency), so an entry is keyed by all of them;
not by the run's date, which no folded filter reads (`ago` is never folded), so a nightly
run reads the codes the night before wrote. An entry that does not read back as this module
wrote it is not used: the text is compiled as if there were no entry. Where:
`language/pack_cache.py`'s folder (`KAMRULES_CACHE_DIR=off` turns both off).
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import marshal
from collections.abc import Callable
from pathlib import Path
from types import CodeType

from kamrules.language.pack_cache import cache_dir, code_fingerprint, write_entry

SUFFIX = ".texts"
KEEP = 16  # entries kept (one per locale and currency in use); the oldest go first
MAX_TEXTS = 4096  # texts one entry holds
MAX_ENTRY_BYTES = 16_000_000
_DIGEST = hashlib.sha256().digest_size

_held: dict[Path, dict[str, CodeType]] = {}  # entry -> the codes read or compiled
_new: set[Path] = set()  # entries with codes compiled in this process, written at exit


def code_of(setting: str, source: str, compile_text: Callable[[], CodeType]) -> CodeType:
    """The code of `source` compiled in the environment `setting` names, from the entry an
    earlier process wrote, else `compile_text()` (kept for the next process)."""
    entry = _entry(setting)
    if entry is None:
        return compile_text()
    codes = _held.get(entry)
    if codes is None:
        codes = _held[entry] = _read(entry)
    code = codes.get(source)
    if code is None:
        code = compile_text()
        if len(codes) < MAX_TEXTS:
            codes[source] = code
            if not _new:
                atexit.register(_write_new)
            _new.add(entry)
    return code


def _entry(setting: str) -> Path | None:
    """The file of the entry for `setting`; None when the cache is off."""
    where = cache_dir()
    if where is None:
        return None
    import babel
    import jinja2

    key = f"{code_fingerprint()}|jinja {jinja2.__version__}|babel {babel.__version__}|{setting}"
    return where / (hashlib.sha256(key.encode()).hexdigest() + SUFFIX)


def _read(entry: Path) -> dict[str, CodeType]:
    """The codes of `entry`; none when it is missing or not what this module wrote."""
    with contextlib.suppress(Exception):
        if entry.stat().st_size <= MAX_ENTRY_BYTES:
            data = entry.read_bytes()
            body = data[_DIGEST:]
            if hashlib.sha256(body).digest() == data[:_DIGEST]:
                codes = marshal.loads(body)  # noqa: S302 (the user's own cache, checksummed)
                if isinstance(codes, dict) and all(
                        type(k) is str and type(v) is CodeType for k, v in codes.items()):
                    return codes
    return {}


def _write_new() -> None:
    """Write the entries this process added codes to (at exit: once, whatever it compiled)."""
    for entry in sorted(_new):
        with contextlib.suppress(Exception):  # a cache can only save time, never fail a command
            body = marshal.dumps(_held[entry])
            if len(body) <= MAX_ENTRY_BYTES:
                write_entry(entry.parent, entry, hashlib.sha256(body).digest() + body,
                            f"*{SUFFIX}", KEEP)
    _new.clear()
