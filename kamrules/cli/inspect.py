"""`kamrules history`: past runs, with their outcome, exit code and API calls."""

from __future__ import annotations

import json

import click

from kamrules.cli.common import formats, loaded_config, print_table


@click.command("history")
@formats("text", "json")
@click.option("--limit", type=click.IntRange(1, 1_000_000), default=20, show_default=True,
              help="How many runs to show.")
@click.option("--tenant", default=None, help="A tenant's runs from the shared (Redis) history.")
@click.pass_context
def history_cmd(ctx: click.Context, limit: int, fmt: str, tenant: str | None) -> None:
    """Past runs: when, outcome, exit code, counts and API calls."""
    from kamrules.run.state import StateStore

    if tenant is not None:
        from kamrules.cli.distributed import tenant_history

        return tenant_history(tenant, limit, fmt == "json")

    store = StateStore(loaded_config(ctx).state_dir)
    runs = store.history(limit)
    store.close()
    if fmt == "json":
        click.echo(json.dumps(runs, indent=2))
        return
    rows = []
    for r in runs:
        counts = ", ".join(f"{k} {v}" for k, v in r["counts"].items() if v)
        exit_code = "" if r["exit_code"] is None else str(r["exit_code"])
        rows.append((r["id"], r["started"], r["as_of"], r["mode"], r["outcome"] or "", exit_code,
                     counts, r["api_calls"] or 0))
    print_table(("run", "started", "as of", "mode", "outcome", "exit", "counts", "API calls"),
                rows, wrap=("counts",))
