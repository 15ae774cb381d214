"""The one input boundary: every file kamrules reads passes here before anything parses it.

A file must be a regular file (not a folder, FIFO or device) under a size limit and valid UTF-8.
YAML is first scanned as an event stream (linear, no recursion) to refuse what would make a
loader hang or recurse: nesting past a depth limit, aliases that expand past a node budget or
refer to themselves, unknown tags; and `"\\ud800"` escapes, which make half a character. Scalars
are then constructed strictly: impossible dates, `!!int abc`, huge integers and non-finite
floats are located errors, never exceptions.
"""

from __future__ import annotations

import math
import os
import re
import stat
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.constructor import RoundTripConstructor
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import (
    AliasEvent,
    CollectionEndEvent,
    CollectionStartEvent,
    DocumentStartEvent,
    ScalarEvent,
)

from kamrules.errors import Location, Problem, ValidationFailed
from kamrules.inputs.sanitize import SURROGATES

# 256 KB: the largest YAML file shipped is 15 KB; ruamel parses about 200 KB a second, so a
# file at the limit full of mistakes is still reported in a few seconds.
MAX_BYTES = 256_000
MAX_DEPTH = 64  # mappings and lists nested in each other (a rule's `when` nests two a level)
MAX_NODES = 250_000  # nodes after expanding aliases: what pydantic will walk
MAX_INT = 2**63 - 1  # what SQLite and every CRM API can store
MAX_PROBLEMS = 50  # problems shown per file; the rest are counted
CORE = "tag:yaml.org,2002:"
ALLOWED_TAGS = {CORE + t for t in ("str", "int", "float", "bool", "null", "map", "seq",
                                    "timestamp", "merge")} | {"!"}


def _refuse(where: str, message: str, line: int = 0, column: int = 0) -> ValidationFailed:
    return ValidationFailed([Problem(Location(where, line, column), "", message)])


def read_bytes(path: Path, max_bytes: int = MAX_BYTES) -> bytes:
    """The bytes of a regular file no larger than `max_bytes`; anything else is a located error."""
    where = str(path)
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise _refuse(where, "no such file") from None
    except OSError as exc:
        raise _refuse(where, f"cannot read: {exc.strerror}") from None
    if stat.S_ISDIR(info.st_mode):
        raise _refuse(where, "is a folder, not a file") from None
    if not stat.S_ISREG(info.st_mode):
        raise _refuse(where, "not a regular file (a FIFO, socket or device); give a file")
    if info.st_size > max_bytes:
        raise _refuse(where, f"file is {info.st_size:,} bytes; the limit is {max_bytes:,}")
    try:  # O_NONBLOCK: a file swapped for a FIFO after the stat still cannot block the open
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise _refuse(where, f"cannot read: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise _refuse(where, "not a regular file (a FIFO, socket or device); give a file")
        try:
            data = handle.read(max_bytes + 1)
        except OSError as exc:
            raise _refuse(where, f"cannot read: {exc.strerror}") from None
    if len(data) > max_bytes:
        raise _refuse(where, f"file is over the limit of {max_bytes:,} bytes")
    return data


def decode(data: bytes, where: str) -> str:
    """UTF-8 text (a leading BOM dropped); a bad byte is reported at its line and column."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        start = data.rfind(b"\n", 0, exc.start) + 1
        column = len(data[start:exc.start].decode("utf-8", "replace")) + 1
        raise _refuse(where, f"not UTF-8: byte 0x{data[exc.start]:02x} cannot be decoded;"
                      " save the file as UTF-8", line, column) from None
    return text[1:] if text.startswith("\ufeff") else text


def read_text(path: Path, max_bytes: int = MAX_BYTES) -> str:
    """A regular, bounded, UTF-8 file's text."""
    return decode(read_bytes(path, max_bytes), str(path))


# --- YAML -------------------------------------------------------------------------------------


class _Refused(Exception):
    """A scalar the strict constructor will not build, with the node where it was written."""

    def __init__(self, node: Any, message: str):
        super().__init__(message)
        self.node = node
        self.message = message


class StrictConstructor(RoundTripConstructor):
    """The round-trip constructor, with scalars that fail turned into located refusals."""

    def construct_object(self, node: Any, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)
        except _Refused:
            raise
        except (ValueError, OverflowError, TypeError, KeyError) as exc:
            reason = str(exc).split(";")[0].split(": value has")[0]
            raise _Refused(node, f"{_scalar(node)} cannot be read: {reason}") from None

    def construct_yaml_int(self, node: Any) -> Any:
        value = super().construct_yaml_int(node)
        if abs(int(value)) > MAX_INT:
            raise _Refused(node, f"integer {_scalar(node)} is too large (limit {MAX_INT})")
        return value

    def construct_yaml_float(self, node: Any) -> Any:
        value = super().construct_yaml_float(node)
        if not math.isfinite(float(value)):
            raise _Refused(node, f"{_scalar(node)} is not a finite number")
        return value


StrictConstructor.add_constructor(CORE + "int", StrictConstructor.construct_yaml_int)
StrictConstructor.add_constructor(CORE + "float", StrictConstructor.construct_yaml_float)


def _scalar(node: Any) -> str:
    value = str(getattr(node, "value", ""))
    return repr(value if len(value) <= 40 else value[:40] + "...")


def _where(mark: Any, where: str) -> Location:
    return Location(where, mark.line + 1, mark.column + 1) if mark else Location(where)


def _scan(text: str, where: str) -> list[Any]:
    """Walk the event stream once: depth, alias expansion and tags, each refused where it is;
    the events, for the document to be composed from (`_replayed`)."""
    events: list[Any] = []
    sizes: dict[Any, tuple[int, int]] = {}  # anchor -> (expanded nodes, height)
    open_: list[tuple[Any, int, int]] = []  # (anchor, nodes before it, tallest child)
    defined: dict[Any, Any] = {}  # anchor -> where it was first defined
    total = 0

    def grew(height: int) -> None:
        if open_:
            anchor, start, tallest = open_[-1]
            open_[-1] = (anchor, start, max(tallest, height))

    for event in YAML(typ="rt").parse(text):
        events.append(event)
        mark = event.start_mark
        if isinstance(event, CollectionStartEvent | ScalarEvent) and event.anchor is not None:
            _define(event.anchor, mark, defined, where)
        tag = getattr(event, "tag", None)
        if tag is not None and str(tag) not in ALLOWED_TAGS:
            raise ValidationFailed([Problem(_where(mark, where), "",
                                            f"the YAML tag {str(tag)!r} is not supported")])
        if isinstance(event, AliasEvent):
            if event.anchor not in sizes:
                raise ValidationFailed([Problem(_where(mark, where), "",
                                                f"alias *{event.anchor} refers to itself")])
            nodes, height = sizes[event.anchor]
        elif isinstance(event, CollectionStartEvent):
            open_.append((event.anchor, total, 0))
            total += 1
            if len(open_) > MAX_DEPTH:
                raise ValidationFailed([Problem(_where(mark, where), "",
                                                f"nested deeper than {MAX_DEPTH} levels")])
            continue
        elif isinstance(event, CollectionEndEvent):
            anchor, start, tallest = open_.pop()
            nodes, height = 0, tallest + 1
            if anchor is not None:
                sizes[anchor] = (total - start, height)
        elif isinstance(event, ScalarEvent):
            nodes, height = 1, 1
            if (half := SURROGATES.search(event.value)) is not None:
                raise ValidationFailed([Problem(_where(mark, where), "", _half(half))])
            if event.anchor is not None:
                sizes[event.anchor] = (1, 1)
        else:
            continue
        total += nodes
        if len(open_) + height - 1 > MAX_DEPTH:
            raise ValidationFailed([Problem(_where(mark, where), "",
                                            f"nested deeper than {MAX_DEPTH} levels")])
        if total > MAX_NODES:
            what = "aliases expand" if isinstance(event, AliasEvent) else "the document grows"
            raise ValidationFailed([Problem(_where(mark, where), "",
                                            f"{what} past {MAX_NODES:,} values")])
        grew(height)
    return events


def _replayed(events: list[Any]) -> type:
    """ruamel's parser over the events `_scan` read, so that a document is parsed once, not
    twice (parsing is most of loading one: `kamrules test` of kam-core 2.7 -> 2.1 s)."""

    class Replayed:
        def __init__(self, loader: Any = None) -> None:
            self.at = 0

        def check_event(self, *choices: Any) -> bool:
            return self.at < len(events) and (not choices or isinstance(events[self.at], choices))

        def peek_event(self) -> Any:
            return events[self.at]

        def get_event(self) -> Any:
            self.at += 1
            return events[self.at - 1]

        def dispose(self) -> None:
            return None

    return Replayed


def _directed(events: list[Any]) -> bool:
    """Whether a document has `%YAML` or `%TAG` directives, which the parser hands to the
    resolver as it parses (a YAML 1.1 document reads `yes` as true): such a one is parsed again."""
    return any(isinstance(e, DocumentStartEvent) and (e.version or e.tags) for e in events)


def _define(anchor: Any, mark: Any, defined: dict[Any, Any], where: str) -> None:
    """YAML lets a later `&a` replace an earlier one, and every `*a` after it silently means
    the second: almost always a block copied without renaming its anchor (ruamel only warned,
    on stderr, with its own source line)."""
    if anchor in defined:
        first = defined[anchor]
        raise ValidationFailed([Problem(
            _where(mark, where), "",
            f"the anchor &{anchor} is defined again (first at line {first.line + 1}, column"
            f" {first.column + 1}); an alias *{anchor} after this would mean this one: give it"
            " another name")])
    defined[anchor] = mark


def _half(found: re.Match[str]) -> str:
    """What to write instead of a `\\ud800` escape (YAML, unlike JSON, joins no pairs)."""
    pair = found.string[found.start():found.start() + 2]
    if len(pair) == 2 and "\ud800" <= pair[0] <= "\udbff" and "\udc00" <= pair[1] <= "\udfff":
        joined = ord(pair.encode("utf-16-le", "surrogatepass").decode("utf-16-le"))
        return (f"\\u{ord(pair[0]):04x}\\u{ord(pair[1]):04x} is a UTF-16 pair, which YAML does"
                f" not join: write the character itself or \\U{joined:08x}")
    return (f"\\u{ord(found.group()):04x} is half of a UTF-16 pair, not a character: write the"
            " character itself, or its \\U escape (8 hex digits)")


def _hint(exc: MarkedYAMLError) -> str:
    """`true:` and `1:` (or `false:` and `0:`) in one mapping are one key to YAML's reader, as
    True == 1 in Python: "duplicate key "1" with value "True"" said nothing of why."""
    problem = str(exc.problem or "")
    if re.match(r'found duplicate key "(1|0|True|False|1\.0|0\.0)"', problem):
        return ("; true and 1 (false and 0) are the same key to YAML: quote them to keep both"
                " as text ('1': ..., 'true': ...)")
    return ""


def parse_yaml(text: str, where: str) -> Any:
    """The YAML document of `text` with positions kept; every refusal is a located problem."""
    try:
        events = _scan(text, where)
        yaml = YAML(typ="rt")
        yaml.Constructor = StrictConstructor
        if not _directed(events):
            yaml.Parser = _replayed(events)
        return yaml.load(text)
    except _Refused as exc:
        raise ValidationFailed(
            [Problem(_where(exc.node.start_mark, where), "", exc.message)]) from None
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise ValidationFailed(
            [Problem(_where(mark, where), "", f"invalid YAML: {exc.problem}{_hint(exc)}")]) from None
    except YAMLError as exc:  # e.g. a control character the reader refuses
        position = getattr(exc, "position", 0) or 0
        line = text.count("\n", 0, position) + 1
        column = position - (text.rfind("\n", 0, position) + 1) + 1
        reason = getattr(exc, "reason", None) or str(exc).splitlines()[0]
        raise ValidationFailed(
            [Problem(Location(where, line, column), "", f"invalid YAML: {reason}")]) from None
    except RecursionError:  # the scan bounds depth; this is the last guard
        raise _refuse(where, f"nested too deeply (limit {MAX_DEPTH} levels)") from None


def load_yaml_file(path: Path, max_bytes: int = MAX_BYTES) -> Any:
    """Read and parse one YAML file through the boundary."""
    return parse_yaml(read_text(path, max_bytes), str(path))


def cap(problems: Iterable[Problem], limit: int = MAX_PROBLEMS) -> list[Problem]:
    """At most `limit` problems per file, in order, then one line counting the rest."""
    by_file: dict[str, list[Problem]] = {}
    for problem in sorted(problems):
        by_file.setdefault(problem.location.file, []).append(problem)
    shown: list[Problem] = []
    for file, found in by_file.items():
        shown += found[:limit]
        if len(found) > limit:
            shown.append(Problem(Location(file), "", f"... and {len(found) - limit:,} more"
                                 " problem(s) in this file, not shown"))
    return shown
