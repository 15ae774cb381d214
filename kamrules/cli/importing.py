"""`kamrules import-csv`: a CSV export loaded into the local CRM."""

from __future__ import annotations

from pathlib import Path

import click

from kamrules.cli.common import err, labelled, loaded_config, out
from kamrules.errors import KamError


@click.command("import-csv")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.pass_context
def import_csv_cmd(ctx: click.Context, directory: Path) -> None:
    """Load a CSV export (accounts.csv, contacts.csv, ...) into the local CRM."""
    from kamrules.cli.wiring import open_connector
    from kamrules.connectors.local.csv_import import import_directory

    loaded = loaded_config(ctx)
    if loaded.config.crm.get("type", "local") != "local":
        raise KamError("import-csv loads into the local CRM; the config names another CRM type")
    loaded.config.crm = {**loaded.config.crm, "seed": "empty"}
    crm = open_connector(loaded)
    try:
        result = import_directory(crm, directory)
    finally:
        crm.close()
    for problem in result.problems:
        err.print(labelled("warning", "yellow", str(problem)))
    for kind, n in result.loaded.items():
        out.print(f"{kind}: {n} records loaded")
    if result.problems:
        out.print(f"{len(result.problems)} rows skipped")


