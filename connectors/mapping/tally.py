"""Field-level failure: a value that does not parse leaves that one field unknown, with a warning
naming record, field and value, and is counted per field for the data-quality gate."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError

from kamrules.inputs.sanitize import clipped
from kamrules.model import SAMPLES, FieldStat, RecordWarning


class FieldTally:
    """Counts per canonical field (`kind.field`): records with a value, and values that failed."""

    def __init__(self) -> None:
        self.stats: dict[str, FieldStat] = {}
        self.warnings: list[RecordWarning] = []

    def _stat(self, key: str, source: str = "") -> FieldStat:
        stat = self.stats.get(key)
        if stat is None:
            stat = self.stats[key] = FieldStat(field=key, source=source)
        elif source and not stat.source:
            stat.source = source
        return stat

    def present(self, kind: str, data: dict[str, Any], sources: dict[str, str] | None = None) -> None:
        for name, value in data.items():
            if value is not None and value != [] and value != "":
                self._stat(f"{kind}.{name}", (sources or {}).get(name, "")).present += 1

    def seen(self, key: str, values: dict[str, int], unmapped: set[str], source: str = "") -> None:
        """The raw values a value map met for `kind.field`, and those it lacks."""
        stat = self._stat(key, source)
        for value, count in values.items():
            stat.values[value] = stat.values.get(value, 0) + count
        stat.unmapped = sorted(set(stat.unmapped) | unmapped)

    def failed(self, kind: str, field: str, record_id: str, value: Any, why: str,
               source: str = "", counted: bool = True, warn: bool = True) -> None:
        """A value that did not parse; `counted` True when `present` already saw it."""
        stat = self._stat(f"{kind}.{field}", source)
        stat.failed += 1
        if not counted:
            stat.present += 1
        text = _show(value)
        if len(stat.samples) < SAMPLES and text not in stat.samples:
            stat.samples.append(text)
        where = f" (from {source})" if source else ""
        if not warn:
            return
        self.warnings.append(RecordWarning(
            kind=kind, record_id=record_id,
            # `why` quotes the value: a megabyte-long one made a megabyte-long warning
            message=clipped(f"field {field}{where}: value {text} {why}; left unknown, the record is kept")))


def validate_fieldwise(model: type[BaseModel], data: dict[str, Any], kind: str, record_id: str,
                       tally: FieldTally, sources: dict[str, str] | None = None) -> Any:
    """`model` from `data`; a field whose value does not validate is dropped (when the model can do
    without it) and tallied. A required field that fails raises the ValidationError (record-level)."""
    tally.present(kind, data, sources)
    data = dict(data)
    for _ in range(len(data) + 1):
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            bad = {str(e["loc"][0]) for e in exc.errors(include_url=False) if e["loc"]}
            droppable = {f for f in bad if f in data and _optional(model, f)}
            if not droppable or droppable != bad:
                for name in sorted(bad - droppable):  # the record is skipped (its own warning)
                    if name in (model.model_fields.keys() - {"id"}):
                        tally.failed(kind, name, record_id, data.get(name), "is required",
                                     (sources or {}).get(name, ""), counted=name in data, warn=False)
                raise
            for name in sorted(droppable):
                why = next(e["msg"] for e in exc.errors(include_url=False)
                           if e["loc"] and str(e["loc"][0]) == name)
                tally.failed(kind, name, record_id, data.pop(name), f"does not fit ({why})",
                             (sources or {}).get(name, ""), counted=True)
    raise AssertionError("unreachable")  # pragma: no cover


def _optional(model: type[BaseModel], name: str) -> bool:
    info = model.model_fields.get(name)
    return info is not None and not info.is_required()


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
