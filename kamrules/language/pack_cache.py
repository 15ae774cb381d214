"""Loaded packs kept on disk, so a command does not parse the same YAML again (issue #18).

Parsing and validating kam-core takes about 1.4 s; reading it back from here about 1 ms. An
entry is used only while every file under the pack's folder and its base packs' folders, and
kamrules' own code, are byte for byte what they were when it was written. Anything else — no
entry, an entry that does not read back, a folder that cannot be written, a full disk — means
the pack is loaded as if there were no cache, without a word: the cache can only save time.

Where: `$KAMRULES_CACHE_DIR`, else `$XDG_CACHE_HOME/kamrules`, else `~/.cache/kamrules`;
`KAMRULES_CACHE_DIR=off` turns it off.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import pickle
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

ENV = "KAMRULES_CACHE_DIR"
KEEP = 64  # entries kept; the oldest go first
MAX_FOLDER_BYTES = 8_000_000  # a pack folder bigger than this is not cached (hashing costs)
MAX_ENTRY_BYTES = 64_000_000  # an entry bigger than this is not read (kam-core's is 0.2 MB)


def cache_dir() -> Path | None:
    """The folder entries go to, or None when the cache is off."""
    given = os.environ.get(ENV)
    if given is not None:
        return None if given.strip().lower() in ("", "off", "0", "no") else Path(given)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "kamrules" / "packs"


@functools.cache
def code_fingerprint() -> str:
    """kamrules' own source and the versions of what a loaded pack is made of."""
    import pydantic
    import ruamel.yaml

    digest = hashlib.sha256(f"{sys.version}|{pydantic.VERSION}|{ruamel.yaml.__version__}".encode())
    root = Path(__file__).resolve().parents[1]
    for path in sorted(root.rglob("*.py")):
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def folder_digest(folder: Path) -> str | None:
    """Every file under `folder`, names and bytes; None when it is too big, unreadable, or
    has a linked folder in it (whose files this walk would not see)."""
    digest = hashlib.sha256()
    total = 0
    try:
        for path in sorted(p for p in folder.rglob("*") if "__pycache__" not in p.parts):
            if path.is_dir():
                if path.is_symlink():
                    return None
                digest.update(b"d:" + str(path.relative_to(folder)).encode() + b"\0")
                continue
            if not path.is_file():  # a FIFO, a dangling link: the loader would refuse it
                return None
            data = path.read_bytes()
            total += len(data)
            if total > MAX_FOLDER_BYTES:
                return None
            digest.update(str(path.relative_to(folder)).encode() + b"\0" + data + b"\0")
    except OSError:
        return None
    return digest.hexdigest()


def _folders(pack: Any) -> list[Path]:
    out = []
    while pack is not None:
        out.append(Path(pack.directory))
        pack = getattr(pack, "base", None)
    return out


def cached(directory: Path, load: Callable[[Path], Any]) -> Any:
    """`load(directory)`, or the entry written by an earlier identical load."""
    try:
        name = f"{directory}|{directory.resolve()}"
    except OSError:
        return load(directory)
    return _cached(name, lambda: load(directory), _folders)


def cached_beside(pack: Any, what: str, load: Callable[[], Any]) -> Any:
    """`load()`, something made of `pack` and the files in its folders (e.g. its plays), or
    the entry an earlier identical load wrote; `what` names it and all else it depends on."""
    try:
        name = f"{what}|{pack.directory}|{Path(pack.directory).resolve()}"
    except OSError:
        return load()
    return _cached(name, load, lambda _made: _folders(pack))


def _cached(name: str, load: Callable[[], Any], folders_of: Callable[[Any], list[Path]]) -> Any:
    """`load()`, or the entry named `name`, used while the folders it was made of
    (`folders_of(what load made)`) are byte for byte the same."""
    where = cache_dir()
    if where is None:
        return load()
    entry = where / f"{hashlib.sha256(f'{code_fingerprint()}|{name}'.encode()).hexdigest()}.pickle"
    with contextlib.suppress(Exception):  # a missing, stale or damaged entry: load instead
        if entry.stat().st_size > MAX_ENTRY_BYTES:
            raise ValueError("not an entry this module wrote")
        folders, made = pickle.loads(entry.read_bytes())  # noqa: S301 (the user's own cache)
        if folders and all(folder_digest(Path(f)) == d for f, d in folders):
            return made
    made = load()
    with contextlib.suppress(Exception):
        folders = [(str(f), folder_digest(f)) for f in folders_of(made)]
        if all(d is not None for _, d in folders):
            write_entry(where, entry, pickle.dumps((folders, made), protocol=pickle.HIGHEST_PROTOCOL))
    return made


def write_entry(where: Path, entry: Path, data: bytes, pattern: str = "*.pickle",
                keep: int = KEEP) -> None:
    """Write `entry` whole or not at all, then drop the oldest entries matching `pattern` past
    the newest `keep`."""
    where.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=where, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, entry)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
    entries = sorted(where.glob(pattern), key=lambda p: p.stat().st_mtime)
    for old in entries[:-keep]:
        with contextlib.suppress(OSError):
            old.unlink()
