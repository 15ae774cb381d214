"""`kamrules packs` (the packs usable by name, their versions and where they come from) and
`kamrules pack new NAME` (a new pack as a pip-installable package)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from kamrules.cli.common import formats, out, print_table
from kamrules.errors import ValidationFailed


@click.command("packs")
@formats("text", "json")
def packs_cmd(fmt: str) -> None:
    """List the rule packs usable by name in `packs:`: built-in and pip-installed ones (one that
    cannot be used, with why)."""
    from kamrules.language.loader import load_pack
    from kamrules.language.registry import every_pack

    rows = []
    for found in every_pack():
        row = {"name": found.name, "id": None, "version": None, "source": found.source,
               "path": str(found.directory) if found.directory else None,
               "requires_kamrules": None, "extends": None, "problem": found.error}
        if found.directory is not None and not found.error:
            try:
                pack = load_pack(found.directory)
                raw = (found.directory / "pack.yaml").read_text(encoding="utf-8")
                row.update(id=pack.id, version=pack.version,
                           requires_kamrules=_field(raw, "requires_kamrules"),
                           extends=_field(raw, "extends"))
            except ValidationFailed as exc:
                row["problem"] = "; ".join(p.message for p in exc.problems)
        rows.append(row)
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2))
        return
    print_table(("name", "version", "source", "requires kamrules", "extends", "path / problem"),
                [(r["name"], r["version"] or "-", r["source"], r["requires_kamrules"] or "any",
                  r["extends"] or "-", r["problem"] or r["path"]) for r in rows],
                title="rule packs", wrap=("path / problem",))


def _field(text: str, key: str) -> str | None:
    for line in text.splitlines():
        if line.startswith(f"{key}:"):
            value = line.split(":", 1)[1].split("#", 1)[0].strip().strip("\"'")
            return value or None
    return None


@click.group("pack")
def pack_group() -> None:
    """Make rule packs."""


@pack_group.command("new")
@click.argument("name")
@click.option("--dir", "target", type=click.Path(path_type=Path),
              help="Where to write it (default: ./NAME).")
def pack_new(name: str, target: Path | None) -> None:
    """Scaffold a rule pack as a Python package: pyproject (entry point `kamrules.packs`),
    pack.yaml, a rule, its test cases, a generated README and a pytest file."""
    from kamrules.language.scaffold import scaffold

    written = scaffold(name, target or Path(name))
    for path in written:
        out.print(str(path))
    out.print(f"\npack {name}: `pip install ./{(target or Path(name)).as_posix()}`, then"
              f" `packs: [{name}]` in kamrules.yaml; `pytest` in the folder runs its cases")
