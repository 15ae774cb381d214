"""Problems of the machine, not of kamrules: unreadable, read-only, full or corrupt locations.

Each becomes an `EnvironmentFailure` (exit 7) naming the path and what to do, never an
"internal error"; `~user` paths that cannot be expanded are config errors (exit 2).
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import sqlite3
import stat
from pathlib import Path

from kamrules.errors import EnvironmentFailure, KamError

_ERRNO = {
    errno.ENOSPC: "the disk is full; free some space and run again",
    errno.EDQUOT: "the disk quota is exhausted; free some space and run again",
    errno.EROFS: "is on a read-only file system; point it at a writable place",
    errno.EACCES: "permission denied; give this user access or point it elsewhere",
    errno.EPERM: "operation not permitted; give this user access or point it elsewhere",
    errno.EISDIR: "is a folder where a file is expected",
    errno.ENOTDIR: "a part of this path is a file where a folder is expected",
    errno.ENOENT: "does not exist",
    errno.EIO: "input/output error from the disk",
    errno.ENAMETOOLONG: "a name in this path is too long for the file system; give a shorter one",
    errno.ELOOP: "symbolic links here point at each other in a loop; point them at a real file",
}
SYMLINK_LOOP = "Symlink loop from "  # Python 3.11's Path.resolve says so with a RuntimeError
_SQLITE = (
    ("disk is full", "the disk is full; free some space and run again"),
    ("readonly", "is read-only; make it writable or point it at a writable place"),
    ("not a database", "is not a SQLite database (corrupt, or another kind of file)"),
    ("malformed", "is a corrupt SQLite database"),
    ("unable to open", "cannot be opened: a missing or read-only folder, a folder in its"
     " place, or no permission"),
    ("disk i/o", "input/output error from the disk"),
    ("locked", "is locked by another process for too long"),
    # a row written by another tool: SQLite's message names the column and shows the text
    ("could not decode to utf-8", "holds text that is not UTF-8, written by a tool other than"
     " kamrules; correct or delete that row"),
)
_DETAILED = {"could not decode to utf-8"}  # SQLite's own message is kept after the words


def reason(exc: BaseException) -> str:
    """What went wrong, in words, for an OSError or a SQLite error."""
    if isinstance(exc, OSError) and exc.errno in _ERRNO:
        return _ERRNO[exc.errno]
    text = str(exc).lower()
    for needle, words in _SQLITE:
        if needle in text:
            return f"{words} ({exc})" if needle in _DETAILED else words
    return str(exc) or type(exc).__name__


def is_corrupt(exc: BaseException) -> bool:
    """A SQLite file that is not a database or is damaged (a cache may be rebuilt)."""
    text = str(exc).lower()
    return isinstance(exc, sqlite3.DatabaseError) and (
        "not a database" in text or "malformed" in text)


def failure(what: str, path: Path | str, exc: BaseException) -> EnvironmentFailure:
    """`what` at `path` failed because of `exc`: a message naming both, exit 7. SQLite says
    "disk I/O error" when it cannot make its journal on a full disk: then the disk is named."""
    words = reason(exc)
    if words == _ERRNO[errno.EIO] and _nearly_full(Path(path)):
        words = _ERRNO[errno.ENOSPC]
    elif isinstance(exc, OSError) and exc.errno == errno.EEXIST and not Path(path).is_dir():
        words = "is a file where a folder is expected"  # a folder made where a file is
    return EnvironmentFailure(f"{what} {path}: {words}")


def database_place(path: Path, what: str, advice: str) -> None:
    """Refuse a database file's `path` (the local CRM, the state store, a record cache) that is
    a folder, a device or a pipe, through links: SQLite reads a device such as /dev/null as an
    empty database and writes into it (lost without a word), and a file made new in its place
    (a demo CRM seeded, a corrupt one moved aside) replaced it."""
    kind = _kind(path, what)
    if kind is None:
        return
    if stat.S_ISDIR(kind):
        raise EnvironmentFailure(f"{what} {path}: is a folder where a file is expected; {advice}")
    if not stat.S_ISREG(kind):
        raise EnvironmentFailure(f"{what} {path}: is a device or a pipe where a file is"
                                 f" expected; {advice}")


def _kind(path: Path, what: str) -> int | None:
    """The mode of what is at `path`, through links; None where nothing is."""
    try:
        return os.stat(path).st_mode
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise failure(what, path, exc) from None


def _nearly_full(path: Path) -> bool:
    """Whether the file system of `path` (or of its nearest folder that exists) has less than
    1 MiB free for this user."""
    for place in (path, *path.parents):
        try:
            found = os.statvfs(place)
        except OSError:
            continue
        return found.f_bavail * found.f_frsize < 2**20
    return False


def write_whole(path: Path, text: str, what: str) -> None:
    """`text` into `path` whole or not at all: written beside it, then put in its place (through
    a link, in the linked file's place). A full disk left a cut file in its place (a report that
    read as one, its end missing) and was exit 2; now the file is as it was, exit 7 naming it.
    A place that is not a file (`/dev/stdout`, a named pipe, a device) is written as it is: a
    file put in its place replaced it (`-o /dev/null`, run as root, replaced the device)."""
    kind = _kind(path, what)  # through links: /dev/stdout is the process's own output
    if kind is not None and not stat.S_ISREG(kind):
        try:
            with open(path, "w", encoding="utf-8") as out:
                out.write(text)
        except BrokenPipeError:
            raise  # a reader that stopped (`| head`): the command stops quietly, as for stdout
        except OSError as exc:
            raise failure(what, path, exc) from None
        return
    target = Path(os.path.realpath(path))
    tmp = target.with_name(f".{target.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
    try:
        # made as open() makes a file (0666 less the umask), not mkstemp's 0600: a report is
        # read by others (a web server) as before
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except OSError as exc:
        raise failure(what, path, exc) from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(tmp, target)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise failure(what, path, exc) from None


def as_environment_failure(exc: BaseException) -> EnvironmentFailure | None:
    """An OSError or SQLite error that escaped, as an environment failure; None if it is not
    one (a network error, or something kamrules should have handled: a bug)."""
    if isinstance(exc, OSError) and exc.errno in _ERRNO:
        where = exc.filename or "a file kamrules needs"
        return EnvironmentFailure(f"{where}: {reason(exc)}")
    if isinstance(exc, RuntimeError) and str(exc).startswith(SYMLINK_LOOP):
        where = str(exc)[len(SYMLINK_LOOP):].strip("'")
        return EnvironmentFailure(f"{where}: {_ERRNO[errno.ELOOP]}")
    if isinstance(exc, sqlite3.OperationalError | sqlite3.DatabaseError) and any(
            needle in str(exc).lower() for needle, _ in _SQLITE):
        return EnvironmentFailure(f"a SQLite database (state or local CRM): {reason(exc)}")
    return None


def expand(path: str | Path, what: str = "path") -> Path:
    """`~` and `~user` expanded; an unknown user is a config error naming the path."""
    try:
        return Path(path).expanduser()
    except RuntimeError:
        raise KamError(f"{what} {path}: cannot expand {str(path).split('/')[0]!r}"
                       " (no such user or no home folder)") from None
