"""`kamrules import-csv`: a CSV export loaded into the local CRM, with a summary per file.

Exit 0 when everything was loaded, 1 when something was loaded and something refused, 2 when
nothing was loaded at all.
"""

from __future__ import annotations

import codecs
from pathlib import Path

import click

from kamrules.cli.common import err, labelled, loaded_config, out
from kamrules.errors import ExitCode, KamError


def _encoding(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return codecs.lookup(value).name
    except LookupError:
        raise click.BadParameter(f"unknown encoding {value!r}; e.g. utf-8, cp1252, latin-1,"
                                 " utf-16") from None


@click.command("import-csv")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--encoding", callback=_encoding, metavar="NAME",
              help="The files' encoding (e.g. cp1252, latin-1). Default: UTF-8, or the BOM's.")
@click.option("--on-duplicate", type=click.Choice(["first", "last", "refuse"]), default="first",
              show_default=True,
              help="A repeated id: keep the first row, keep the last, or refuse the file.")
@click.option("--columns", "columns_file", metavar="FILE",
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="YAML naming the export's own files, columns and values per kind (e.g."
                   " accounts: {file: Companies.csv, columns: {name: Company Name}});"
                   " see the README's CSV import.")
@click.pass_context
def import_csv_cmd(ctx: click.Context, directory: Path, encoding: str | None,
                   on_duplicate: str, columns_file: Path | None) -> None:
    """Load a CSV export (accounts.csv, contacts.csv, ...) into the local CRM.

    Column names are kamrules' field names (any case) unless --columns maps the export's own.
    """
    from kamrules.cli.wiring import open_connector
    from kamrules.connectors.local.csv_columns import load_columns
    from kamrules.connectors.local.csv_import import import_directory
    from kamrules.inputs.sanitize import terminal_safe

    columns = load_columns(columns_file) if columns_file else None
    loaded = loaded_config(ctx)
    if loaded.config.crm.get("type", "local") != "local":
        raise KamError("import-csv loads into the local CRM; the config names another CRM type")
    loaded.config.crm = {**loaded.config.crm, "seed": "empty"}
    crm = open_connector(loaded)
    try:
        result = import_directory(crm, directory, encoding, on_duplicate,  # type: ignore[arg-type]
                                  columns)
    finally:
        crm.close()
    for problem in result.problems:
        err.print(labelled("warning", "yellow", terminal_safe(problem)))
    for f in result.files:
        for message in f.warnings:
            err.print(labelled("warning", "yellow", terminal_safe(message)))
        for message in f.problems:
            err.print(labelled("error" if f.refused else "warning", "red" if f.refused
                               else "yellow", terminal_safe(message)))
    for f in result.files:
        if f.refused:
            out.print(f"{f.kind}: file refused, nothing loaded ({f.path.name})")
        else:
            extra = f", {f.refused_rows} rows refused" if f.refused_rows else ""
            out.print(f"{f.kind}: {f.loaded} records loaded{extra}")
    if result.total_loaded == 0:
        err.print(labelled("error", "red", "nothing was loaded"))
        ctx.exit(int(ExitCode.USAGE))
    if result.anything_refused:
        ctx.exit(int(ExitCode.PARTIAL_FAILURE))
