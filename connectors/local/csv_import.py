"""CSV import into the local CRM: one file per record kind, headers named as the model fields.

`accounts.csv`, `contacts.csv`, `deals.csv`, `activities.csv`, `cases.csv`, `plans.csv`,
`team.csv`, `surveys.csv`, `contracts.csv`, `users.csv`. List fields take `;`-separated
values; `revenue` is `2024:1200000;2025:1350000`; `risk_measures` is `kind@YYYY-MM-DD;...`.
Empty cells are absent values. Rows that do not validate are reported by file:line, skipped.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from kamrules.connectors.local.crm import LocalCrm, _brief
from kamrules.model import RECORD_KINDS


@dataclass
class ImportResult:
    loaded: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def _parse_list(name: str, value: str) -> list[Any]:
    items = [v.strip() for v in value.split(";") if v.strip()]
    if name == "revenue":
        points = []
        for item in items:
            year, _, amount = item.partition(":")
            points.append({"year": year, "amount": amount})
        return points
    if name == "risk_measures":
        measures = []
        for item in items:
            kind, _, reviewed = item.partition("@")
            measures.append({"kind": kind, "reviewed": reviewed or None})
        return measures
    return items


def row_to_record(kind: str, row: dict[str, str]) -> dict[str, Any]:
    """A CSV row as the dict the record model validates (strings are parsed by pydantic)."""
    model = RECORD_KINDS[kind]
    record: dict[str, Any] = {}
    for name, value in row.items():
        if name is None:
            continue
        name = name.strip()
        value = (value or "").strip()
        if value == "":
            continue
        annotation = str(model.model_fields[name].annotation) if name in model.model_fields else ""
        record[name] = _parse_list(name, value) if annotation.startswith("list") else value
    return record


def import_directory(crm: LocalCrm, directory: Path) -> ImportResult:
    result = ImportResult()
    for kind, model in RECORD_KINDS.items():
        path = directory / f"{kind}.csv"
        if not path.is_file():
            continue
        good = []
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            for row in reader:
                line = reader.line_num
                try:
                    record = model.model_validate(row_to_record(kind, row))
                except ValidationError as exc:
                    result.problems.append(f"{path}:{line}: {_brief(exc)}")
                    continue
                good.append(record.model_dump(mode="json"))
        result.loaded[kind] = crm.insert_records(kind, good)
    if not result.loaded:
        result.problems.append(
            f"{directory}: no CSV files found; expected any of "
            + ", ".join(f"{k}.csv" for k in RECORD_KINDS)
        )
    return result
