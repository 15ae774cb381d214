"""`kamrules report`: the portfolio report as HTML or JSON."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import click

from kamrules.cli.common import as_of_date, err, loaded_config, out, progress_display
from kamrules.run.config import load_configured_packs


@click.command("report")
@click.option("--as-of", "as_of", metavar="DATE",
              help="Report as of this date (YYYY-MM-DD). Default: the latest run's date, else today.")
@click.option("--format", "fmt", type=click.Choice(["html", "json"]), default="html",
              show_default=True, help="A self-contained HTML page, or the same content as JSON.")
@click.option("-o", "--output", metavar="FILE",
              help="Where to write it ('-' for stdout). Default: kamrules-report.html or .json.")
@click.pass_context
def report_cmd(ctx: click.Context, as_of: str | None, fmt: str, output: str | None) -> None:
    """The key-account portfolio at a glance: health, heatmap, owners, snoozes, what changed.

    Evaluates the configured packs over the CRM (writing nothing, like plan), reads kamrules'
    tasks back from the CRM and the run history for trends and the latest run's changes.
    """
    from datetime import timedelta

    from kamrules.cli.wiring import open_connector
    from kamrules.inputs.environment import write_whole
    from kamrules.playbooks.loader import plays_of
    from kamrules.playbooks.state import oldest_open_start
    from kamrules.protocol.connector import task_url
    from kamrules.report.html import render_html
    from kamrules.report.portfolio import build_report
    from kamrules.run.findings_only import findings_of
    from kamrules.run.snooze import load_snoozes
    from kamrules.run.state import StateStore
    from kamrules.run.sync import now_iso

    path = Path(output or f"kamrules-report.{fmt}")
    if output != "-" and not os.access(path.parent, os.W_OK):  # before the long part
        raise click.BadParameter(f"cannot write into {path.parent}", param_hint="--output")
    loaded = loaded_config(ctx)
    packs = load_configured_packs(loaded)
    snoozes = load_snoozes(loaded.snoozes_path)
    store = StateStore(loaded.state_dir)
    runs = store.reports()
    store.close()
    run_days = [date.fromisoformat(r["as_of"]) for r in runs if r.get("mode") == "run"]
    day = as_of_date(as_of) if as_of else (run_days[-1] if run_days else date.today())
    earlier = [d for d in run_days if d < day]
    since = min([day - timedelta(days=loaded.config.lifecycle.renotify_after_days), *earlier[-1:]])
    # as `run` reads plays: their tasks back to a cooldown (a step waiting on a completed one)
    since = min([since, *(day - timedelta(days=play.cooldown_days + 1) for _, play in plays_of(packs))])
    connector = open_connector(loaded)
    try:
        with progress_display(output != "-") as progress:
            findings, snapshot = findings_of(connector, day, packs, loaded.config.engine, progress)
        tasks = connector.list_tasks(since)
        oldest = oldest_open_start(tasks)  # a running play's earlier steps, as `run` reads them
        if oldest is not None and oldest < since:
            tasks = connector.list_tasks(oldest)
        settings = loaded.config.report
        report = build_report(snapshot, findings, packs, tasks, runs,
                              settings.health_weights.model_dump(), now_iso(), snoozes=snoozes,
                              task_url=lambda task_id: task_url(connector, task_id),
                              currency=settings.currency or loaded.config.currency,
                              locale=settings.locale or _language(loaded.config.locale))
    finally:
        connector.close()
    text = render_html(report) if fmt == "html" else report.model_dump_json(indent=2)
    if output == "-":
        click.echo(text)
        return
    write_whole(path, text, "report file")
    s = report.summary
    (err if _is_stdout(path) else out).print(
        f"wrote {path}: {s.key_accounts} key accounts as of {report.as_of},"
        f" {s.share_without_serious:.0%} with no high or critical finding;"
        f" {s.findings} findings ({s.snoozed_findings} snoozed), {s.open_tasks} open tasks"
        f" ({s.overdue_tasks} overdue).")


def _is_stdout(path: Path) -> bool:
    """`-o /dev/stdout` (or a link to where stdout goes): the summary line goes to stderr, not
    after the report into the same stream."""
    try:
        return os.path.samestat(os.stat(path), os.fstat(1))
    except OSError:
        return False


def _language(locale: str) -> str:
    """The report writes numbers per language: `sr_Latn` and `de_CH` as `sr` and `de`."""
    language = locale.replace("-", "_").split("_")[0].lower()
    return language if language in ("en", "de", "fr", "ru", "sr") else "en"
