"""`kamrules doctor`: does the mapping fit this CRM? Connects, runs the pre-flight, pulls once, then
shows per canonical field where it comes from, how often it is filled, and the values seen.

Nothing is written and no task is read; exit 6 when the data-quality gate would stop a run.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import click

from kamrules.cli.common import AS_OF, as_of_date, err, formats, labelled, loaded_config, out
from kamrules.errors import ExitCode
from kamrules.inputs.sanitize import cell
from kamrules.model import RECORD_KINDS, FieldStat, Snapshot

SKIP = {"id", "account_id"}  # set by every connector from the record itself
ENUM_LIKE = 12  # a stored field with at most this many distinct values shows them


def diagnose(snapshot: Snapshot) -> list[dict[str, Any]]:
    """One row per canonical field of every kind with records: source, fill share, values."""
    rows: list[dict[str, Any]] = []
    stats = snapshot.field_stats
    for kind, model in RECORD_KINDS.items():
        records = getattr(snapshot, kind)
        if not records:
            continue
        # a kind the connector tallied no field of is stored canonical (the local CRM): its
        # records say how often each field is filled and with what (else every field read 0%)
        stored = not any(key.startswith(f"{kind}.") for key in stats)
        for name in model.model_fields:
            if name in SKIP:
                continue
            stat = (stats.get(f"{kind}.{name}") or (_counted(kind, name, records) if stored else
                                                    FieldStat(field=f"{kind}.{name}")))
            rows.append(_row(stat, len(records)))
    for key, stat in sorted(stats.items()):  # value tables of their own (HubSpot's `values:`)
        if key.split(".", 1)[0] not in RECORD_KINDS:
            rows.append(_row(stat, None))
    return rows


def _counted(kind: str, name: str, records: list[Any]) -> FieldStat:
    """A field's fill from the records themselves, with the values seen where it has few."""
    stat = FieldStat(field=f"{kind}.{name}")
    values: Counter[str] = Counter()
    for record in records:
        value = getattr(record, name)
        if value is None or value == [] or value == "":
            continue
        stat.present += 1
        if isinstance(value, str | bool):
            values[str(value)] += 1
    if len(values) <= ENUM_LIKE:  # a name or a note has as many values as records
        stat.values = dict(values)
    return stat


def _row(stat: FieldStat, records: int | None) -> dict[str, Any]:
    return {
        "field": stat.field, "source": stat.source, "records": records, "filled": stat.present,
        "fill_share": round(stat.present / records, 4) if records else None,
        "failed": stat.failed, "failure_share": round(stat.share, 4), "samples": stat.samples,
        "values": dict(sorted(stat.values.items(), key=lambda kv: -kv[1])), "unmapped": stat.unmapped,
    }


@click.command("doctor")
@AS_OF
@formats("text", "json")
@click.pass_context
def doctor_cmd(ctx: click.Context, as_of: str | None, fmt: str) -> None:
    """Check the CRM mapping: pre-flight, then each canonical field's source, fill share, and the
    enum values seen (and which the mapping does not map). Writes nothing."""
    from kamrules.cli.wiring import connector_config, open_connector
    from kamrules.run.quality import gate

    loaded = loaded_config(ctx)
    kind = connector_config(loaded).type
    connector = open_connector(loaded)  # logs in and runs the pre-flight (mapping vs the CRM)
    try:
        if loaded.config.health_fields is not None:  # the fields a run writes, checked too
            from kamrules.writeback.health import check_supported

            check_supported(connector)
        snapshot = connector.pull(as_of_date(as_of))
    finally:
        connector.close()
    rows = diagnose(snapshot)
    mapping_notes = [w.message for w in snapshot.warnings if "mapping" in w.kind]
    problems = gate(snapshot.field_stats, snapshot.warnings, {a.id for a in snapshot.accounts},
                    loaded.config.data_quality)
    report = {"crm": kind, "accounts": len(snapshot.accounts), "mapping_notes": mapping_notes,
              "fields": rows, "data_quality": [p.model_dump() for p in problems],
              "api_calls": connector.api_calls}
    if fmt == "json":
        click.echo(json.dumps(report, indent=2, default=str))
    else:
        _print(report)
    ctx.exit(int(ExitCode.DATA_QUALITY) if problems else 0)


def _print(report: dict[str, Any]) -> None:
    out.print(f"{report['crm']}: {report['accounts']} accounts pulled; pre-flight passed.")
    for note in report["mapping_notes"]:
        err.print(labelled("note", "yellow", note))
    click.echo("\t".join(("field", "source", "filled", "failed", "values seen", "unmapped")))
    for row in report["fields"]:
        # a value table of its own (HubSpot's `values.tier`) fills no field: no share, no "0"
        fill = (f"{row['fill_share']:.0%}" if row["fill_share"] is not None
                else "" if row["records"] is None else str(row["filled"]))
        source = row["source"] or ("value map" if row["records"] is None else "-")
        # the values are the CRM's text: one line each, no terminal controls, no formula
        seen = ", ".join(f"{cell(v)} ({n})" for v, n in list(row["values"].items())[:8])
        click.echo("\t".join((row["field"], source, fill, str(row["failed"] or ""),
                              seen, ", ".join(cell(u) for u in row["unmapped"]))))
    for problem in report["data_quality"]:
        err.print(labelled("data-quality gate", "red",
                           f"{problem['field']}: {problem['failed']:,} of {problem['present']:,} failed"))
