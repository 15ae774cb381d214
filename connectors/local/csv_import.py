"""CSV import into the local CRM: one file per record kind, lossless or loud.

`accounts.csv`, `contacts.csv`, `deals.csv`, `activities.csv`, `cases.csv`, `plans.csv`,
`team.csv`, `surveys.csv`, `contracts.csv`, `users.csv` (names and headers in any case). List
fields take `;`-separated values; `revenue` is `2024:1200000;2025:1350000`; `risk_measures` is
`kind@YYYY-MM-DD;...`. Empty cells are absent values; enum values match in any case, a space as
`_`; dates and amounts are read as exports write them (connectors/local/csv_cells.py). A file
may be separated by `;` or tabs, as Excel saves it in many locales (such cells quoted).

Every refusal is reported at file:line: a row that does not validate, has more or fewer cells
than the header, or repeats an id (the first is kept unless told otherwise) is skipped; a file
that is not text in its encoding, has an unclosed quote or a repeated column is refused whole.
Unknown columns are ignored with one warning per file. Each file is one transaction.
"""

from __future__ import annotations

import codecs
import csv
import difflib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError

from kamrules.connectors.local.crm import LocalCrm, _brief
from kamrules.connectors.local.csv_cells import BadCell, row_to_record
from kamrules.connectors.local.csv_columns import Columns, KindColumns
from kamrules.errors import Problem, ValidationFailed
from kamrules.inputs.boundary import decode, read_bytes
from kamrules.model import RECORD_KINDS

MAX_FILE_BYTES = 500_000_000
MAX_FIELD_CHARS = 10_000_000  # the csv module's default, 131,072, is less than real notes
SHOWN_COLUMNS = 20  # unknown columns named (each with a did-you-mean); a million took a minute
OnDuplicate = Literal["first", "last", "refuse"]


@dataclass
class FileResult:
    """What one file gave: records loaded, rows refused, and every message about it."""

    kind: str
    path: Path
    loaded: int = 0
    refused_rows: int = 0
    refused: bool = False  # the whole file
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


@dataclass
class ImportResult:
    files: list[FileResult] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # about the folder: unknown files

    @property
    def loaded(self) -> dict[str, int]:
        return {f.kind: f.loaded for f in self.files if not f.refused}

    @property
    def total_loaded(self) -> int:
        return sum(f.loaded for f in self.files)

    @property
    def anything_refused(self) -> bool:
        return bool(self.problems) or any(f.refused or f.refused_rows for f in self.files)



def find_files(directory: Path, named: dict[str, str] | None = None
               ) -> tuple[dict[str, Path], list[str]]:
    """Each kind's file (names in any case; `named`, from a columns file, may name it otherwise)
    and a message per CSV file that is not one."""
    named = named or {}
    by_name = {named.get(kind, f"{kind}.csv").lower(): kind for kind in RECORD_KINDS}
    found: dict[str, Path] = {}
    unknown: list[str] = []
    for path in sorted(directory.iterdir()):
        kind = by_name.get(path.name.lower())
        if kind is None and not path.name.lower().endswith((".csv", ".tsv", ".txt")):
            continue
        if kind is None:
            close = difflib.get_close_matches(path.name.lower(), list(by_name), n=1, cutoff=0.6)
            hint = f"did you mean {close[0]}? " if close else ""
            unknown.append(f"{path}: not a file kamrules imports, ignored; {hint}expected any"
                           f" of {', '.join(by_name)}")
        elif kind in found:
            unknown.append(f"{path}: ignored; {found[kind].name} is the {kind} file already")
        else:
            found[kind] = path
    for kind, name in named.items():
        if kind not in found:
            unknown.append(f"{directory}: no file {name!r} (the columns file's {kind}.file);"
                           f" no {kind} loaded")
    return found, unknown


def _text(path: Path, encoding: str | None) -> str:
    """The file's text: the given encoding, else a BOM's, else UTF-8 (refused with a hint)."""
    data = read_bytes(path, MAX_FILE_BYTES)
    named = encoding or _bom(data)
    if named:
        try:
            return data.decode(named, errors="strict").lstrip("\ufeff")
        except UnicodeError as exc:  # named by its BOM: `None` was the name in the message
            at = getattr(exc, "start", None)
            line = "" if at is None else f":{data[:at].decode(named, 'replace').count(chr(10)) + 1}"
            how = named if encoding else f"{named} (its byte order mark says so)"
            raise _FileRefused(f"{path}{line}: cannot be read as {how}: {exc}") from None
    try:
        return decode(data, str(path))
    except ValidationFailed as exc:
        hint = (f"give its encoding, e.g. --encoding {_likely_encoding(data)} for an Excel export"
                " on Windows, or save it as UTF-8")
        raise ValidationFailed([Problem(p.location, p.path, p.message.replace(
            "save the file as UTF-8", hint)) for p in exc.problems]) from None


def _likely_encoding(data: bytes) -> str:
    """The Windows code page an export not in UTF-8 is likely in, for the hint: cp1251 when its
    non-ASCII bytes come in runs of three or more on average (whole Cyrillic words: a Russian
    or Serbian Excel), else cp1252 (a letter here and there: Western European)."""
    runs = re.findall(rb"[\x80-\xff]+", data[:1_000_000])
    if runs and sum(map(len, runs)) / len(runs) >= 3:
        return "cp1251"
    return "cp1252"


def _delimiter(text: str) -> tuple[str, bool]:
    """The file's delimiter, and whether its first line only names it: Excel's `sep=;` line,
    else `;` or a tab when the header has one and no comma (a German or French Excel saves
    `;`: every row was refused as lacking the id and name, with no word of the delimiter)."""
    lines = text.splitlines()
    first = lines[0].strip() if lines else ""
    if re.fullmatch(r"sep=[,;\t|]", first, re.IGNORECASE):
        return first[4], True
    header = next((line for line in lines if line.strip()), "")
    if "," not in header:
        for candidate in (";", "\t"):
            if candidate in header:
                return candidate, False
    return ",", False


def _bom(data: bytes) -> str | None:
    """The encoding a byte order mark names (UTF-32's first: it begins with UTF-16's)."""
    for mark, name in ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
                       (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16")):
        if data.startswith(mark):
            return name
    return None


def _header(raw: list[str], kind: str, result: FileResult,
            names_given: KindColumns) -> list[str | None]:
    """Header cells as model field names (any case, spaces as _, or as the columns file names
    them); None for unknown columns."""
    model = RECORD_KINDS[kind]
    fields = {name.lower(): name for name in model.model_fields}
    names: list[str | None] = []
    seen: dict[str, int] = {}
    unknown: list[tuple[str, str]] = []  # the first few: (as written, as matched)
    unknowns = shadowed = 0
    for i, cell in enumerate(raw, 1):
        key = cell.strip().lower().replace(" ", "_")
        mapped = names_given.field_of(cell)
        name = mapped or fields.get(key)
        if mapped is None and name in names_given.named:
            shadowed += 1  # `name` beside the `Название` the columns file reads name from
            if shadowed <= SHOWN_COLUMNS:
                result.warnings.append(f"{result.path}:1: column {cell.strip()!r} ignored: the"
                                       f" columns file reads {name} from"
                                       f" {names_given.named[name]!r}")
            names.append(None)
            continue
        if name is None:
            unknowns += 1
            if unknowns <= SHOWN_COLUMNS:
                unknown.append((cell.strip(), key))
        elif name in seen:
            raise _FileRefused(f"{result.path}:1: column {cell.strip()!r} appears twice"
                               f" (columns {seen[name]} and {i}); remove one")
        else:
            seen[name] = i
        names.append(name)
    if unknown:
        shown = ", ".join(repr(cell) + _hint(key, fields) for cell, key in unknown)
        more = f" and {unknowns - SHOWN_COLUMNS} more" if unknowns > SHOWN_COLUMNS else ""
        result.warnings.append(f"{result.path}:1: ignored unknown column(s): {shown}{more}")
    missing = [column for name, column in names_given.named.items() if name not in seen]
    if missing:
        result.warnings.append(f"{result.path}:1: no column {', '.join(map(repr, missing))},"
                               " which the columns file names")
    return names


def _hint(key: str, fields: dict[str, str]) -> str:
    close = difflib.get_close_matches(key, list(fields), n=1)
    return f" (did you mean {fields[close[0]]!r}?)" if close else ""


class _FileRefused(Exception):
    """The whole file is refused; nothing of it is loaded."""


BATCH = 5_000  # records written at a time: an export is never held whole (it was ~20x its size)


def import_file(crm: LocalCrm, path: Path, kind: str, encoding: str | None,
                on_duplicate: OnDuplicate, names: KindColumns | None = None) -> FileResult:
    """One file into the local CRM in one transaction: its valid records, and what was refused,
    every refusal at file:line; a file refused whole loads nothing."""
    result = FileResult(kind, path)
    try:
        try:
            text = _text(path, encoding)
        except LookupError as exc:  # `--encoding rot13`: a codec that is not a text encoding
            raise _FileRefused(f"{path}: cannot be read as {encoding}: {exc}") from None
        rows = _Rows(text, path, kind, result, on_duplicate, names or KindColumns())
        written = crm.insert_batches(kind, rows.batches())
    except ValidationFailed as exc:
        result.problems += [str(p) for p in exc.problems]
    except _FileRefused as exc:
        result.problems.append(str(exc))
    except csv.Error as exc:
        what = str(exc)
        if "unexpected end of data" in what or "expected after" in what:
            what = f"a quoted field starting on this line is not closed where it should be ({exc})"
        result.problems.append(f"{path}:{rows.prev + 1}: {what}; file refused, nothing loaded")
    else:
        result.loaded = written - rows.replaced
        return result
    result.refused = True  # the file's one transaction was not made, or rolled back
    return result


# a line with its ending, as a file opened with newline="" gives it (`\r\n`, `\r` or `\n`)
_LINE = re.compile(r"[^\r\n]*(?:\r\n?|\n)|[^\r\n]+$")


def _lines(text: str) -> Iterator[str]:
    """The text's lines one at a time (io.StringIO held a copy of it at 4 bytes a character)."""
    return (m.group() for m in _LINE.finditer(text))


class _Rows:
    """A file's valid records, in batches, as its rows are read (see `import_file`)."""

    def __init__(self, text: str, path: Path, kind: str, result: FileResult,
                 on_duplicate: OnDuplicate, names: KindColumns):
        self.text, self.path, self.kind, self.result = text, path, kind, result
        self.names = names
        self.on_duplicate = on_duplicate
        self.prev = 0  # the last physical line read: a record starts on the next one
        self.replaced = 0  # records written again by a later one of their id (`last`)

    def batches(self) -> Iterator[list[dict[str, Any]]]:
        batch: list[dict[str, Any]] = []
        for record in self._records():
            batch.append(record)
            if len(batch) >= BATCH:
                yield batch
                batch = []
        if batch:
            yield batch

    def _records(self) -> Iterator[dict[str, Any]]:
        path, kind, result = self.path, self.kind, self.result
        model = RECORD_KINDS[kind]
        seen: dict[str, int] = {}  # id -> the line it was first read at
        csv.field_size_limit(MAX_FIELD_CHARS)
        delimiter, skipped = _delimiter(self.text)
        reader = csv.reader(_lines(self.text), strict=True, delimiter=delimiter)
        if skipped:
            next(reader, None)
        self.prev = reader.line_num
        header = next(reader, None)
        while header is not None and not any(c.strip() for c in header):
            header = next(reader, None)  # blank lines above it: the header was taken as none
        if header is None:
            result.warnings.append(f"{path}: empty file (or only blank lines)")
            return
        names = _header(header, kind, result, self.names)
        self.prev = reader.line_num
        for cells in reader:
            line, self.prev = self.prev + 1, reader.line_num
            if not any(c.strip() for c in cells):
                continue
            if len(cells) != len(names):
                result.refused_rows += 1
                result.problems.append(f"{path}:{line}: {len(cells)} cells where the header has"
                                       f" {len(names)}; row skipped (a stray comma or quote?)")
                continue
            row = {n: c for n, c in zip(names, cells, strict=True) if n is not None}
            try:
                cells_read = row_to_record(kind, row, self.names.value, self.names.decimals)
                record = model.model_validate(cells_read).model_dump(mode="json")
            except (ValidationError, BadCell) as exc:
                result.refused_rows += 1
                why = _brief(exc) if isinstance(exc, ValidationError) else str(exc)
                result.problems.append(f"{path}:{line}: {why}")
                continue
            rid = record.get("id")
            if rid is not None and rid in seen:
                first = seen[rid]
                if self.on_duplicate == "refuse":
                    raise _FileRefused(f"{path}:{line}: duplicate id {rid!r} (first at line"
                                       f" {first}); file refused (--on-duplicate refuse)")
                result.refused_rows += 1
                kept = "the first" if self.on_duplicate == "first" else "this one"
                result.problems.append(f"{path}:{line}: duplicate id {rid!r}, first at line"
                                       f" {first}; kept {kept}")
                if self.on_duplicate == "first":
                    continue
                self.replaced += 1  # written over the earlier one
            elif rid is not None:
                seen[rid] = line
            yield record


def import_directory(crm: LocalCrm, directory: Path, encoding: str | None = None,
                     on_duplicate: OnDuplicate = "first",
                     columns: Columns | None = None) -> ImportResult:
    """Every known file of `directory`, each in its own transaction; one bad file never stops
    the others. `columns` (`--columns FILE`) names an export's own files, columns and values."""
    result = ImportResult()
    columns = columns or {}
    files, result.problems = find_files(
        directory, {kind: c.file for kind, c in columns.items() if c.file})
    for kind, path in files.items():
        result.files.append(import_file(crm, path, kind, encoding, on_duplicate,
                                        columns.get(kind)))
    if not files:
        result.problems.append(
            f"{directory}: no CSV files found; expected any of "
            + ", ".join(f"{k}.csv" for k in RECORD_KINDS)
        )
    return result
