"""`kamrules run` and `kamrules plan`: one run through the pipeline, and what it changed."""

from __future__ import annotations

import contextlib
from typing import Any

import click
from rich.table import Table

from kamrules.cli.common import AS_OF, JSON, as_of_date, err, labelled, loaded_config, out, progress_display
from kamrules.run.config import load_configured_packs


def _run(ctx: click.Context, as_of: str | None, as_json: bool, dry_run: bool,
         lock_wait: float | None = None, digest: bool = True) -> None:
    from kamrules.cli.wiring import open_connector
    from kamrules.run.config import crm_section
    from kamrules.run.lock import RunLock, lock_path
    from kamrules.run.snooze import load_snoozes
    from kamrules.run.state import StateStore
    from kamrules.run.sync import now_iso, run

    loaded = loaded_config(ctx)
    packs = load_configured_packs(loaded)
    snoozes = load_snoozes(loaded.snoozes_path)
    day = as_of_date(as_of)
    wait = loaded.config.lock_wait_seconds if lock_wait is None else lock_wait
    # A plan writes nothing, so it never waits for a run; a run holds the CRM's lock.
    lock = RunLock(lock_path(loaded.state_dir, crm_section(loaded)), wait)
    with contextlib.nullcontext() if dry_run else lock:
        if lock.took_over:
            err.print(labelled("warning", "yellow",
                               f"the previous run (pid {lock.took_over.get('pid')}, started"
                               f" {lock.took_over.get('started')}) did not finish; taking over"))
        connector = open_connector(loaded)
        state = StateStore(loaded.state_dir)
        run_id = state.start_run(now_iso(), day.isoformat(), "plan" if dry_run else "run")
        try:
            with progress_display(not as_json) as progress:
                report = run(connector, packs, loaded, day, dry_run, progress, snoozes,
                             digest=digest)
            _send_digest(report, loaded, state, dry_run)
        except BaseException as exc:
            state.fail_run(run_id, now_iso(), f"{type(exc).__name__}: {exc}")
            raise
        finally:
            connector.close()
        state.finish_run(run_id, report.model_dump(mode="json"))
        state.close()
    if as_json:
        click.echo(report.model_dump_json(indent=2))
    else:
        _print_report(report, dry_run)
    ctx.exit(report.exit_code)


def _send_digest(report: Any, loaded: Any, state: Any, dry_run: bool) -> None:
    """After the write-back: one digest per owner, sent once; a failure only shows in the report."""
    from kamrules.digest.send import send_all

    settings = loaded.config.digest
    if report.digest is None or settings is None or dry_run:
        return
    report.digest = send_all(report.digest.messages, settings, loaded.base_dir, state)


def _print_report(report: Any, dry_run: bool) -> None:
    verb = "would" if dry_run else ""
    shown = [c for c in report.changes if c.action != "keep" or not c.ok]
    if shown and not out.is_terminal:  # logs and pipes: one plain line per change
        if dry_run:
            click.echo("dry run: nothing written")
        for c in shown:
            action = c.action if c.ok else f"{c.action}-FAILED"
            note = (c.error if not c.ok else c.reason) or ""
            click.echo("\t".join((action, c.fingerprint, c.owner_id or "", c.subject, note)))
    elif shown:
        table = Table(title="Changes" + (" (dry run: nothing written)" if dry_run else ""))
        for column in ("action", "fingerprint", "owner", "subject", "note"):
            table.add_column(column, overflow="fold")
        for c in shown:
            note = c.error if not c.ok else c.reason
            action = c.action if c.ok else f"{c.action} FAILED"
            table.add_row(action, c.fingerprint, c.owner_id or "", c.subject, note or "")
        out.print(table)
    for t in report.plays:
        where = f" {t.step}" if t.step else ""
        out.print(f"play {t.kind}: {t.pack_id}/{t.play_id}/{t.account_id}{where}"
                  f" (started {t.started}){': ' + t.detail if t.detail else ''}")
    if report.digest is not None:
        done = [m for m in report.digest.messages if m.status != "planned"]
        for m in report.digest.messages:
            state = "would send" if m.status == "planned" else m.status
            out.print(f"digest {state}: {m.channel} to {m.to or m.owner_id}: {m.subject}"
                      f"{' (' + m.error + ')' if m.error else ''}")
        if report.digest.outcome == "failed":
            err.print(labelled("warning", "yellow", f"digest: {len(done)} handled, some failed;"
                               " they are retried on the next run (tasks were written)"))
    for w in report.warnings:
        err.print(labelled("warning", "yellow", f"skipped {w.kind} {w.record_id}: {w.message}"))
    counts = ", ".join(f"{n} {verb + ' be ' if verb else ''}{k}".replace("  ", " ")
                       for k, n in report.counts.items() if n)
    out.print(
        f"{report.accounts} accounts, {report.findings} findings as of {report.as_of}: "
        f"{counts or 'nothing to do'}; {len(report.warnings)} warnings; "
        f"{report.api_calls} API calls."
    )




NO_DIGEST = click.option("--no-digest", "no_digest", is_flag=True,
                         help="Do not build or send the per-owner digest this time.")


@click.command("run")
@AS_OF
@JSON
@NO_DIGEST
@click.option("--lock-wait", type=float, metavar="SECONDS",
              help="How long to wait for another run on the same CRM to finish (default: "
              "lock_wait_seconds in the config, 30).")
@click.pass_context
def run_cmd(ctx: click.Context, as_of: str | None, as_json: bool, no_digest: bool,
            lock_wait: float | None) -> None:
    """Pull, evaluate and write tasks back to the CRM; then send each owner's digest."""
    _run(ctx, as_of, as_json, dry_run=False, lock_wait=lock_wait, digest=not no_digest)


@click.command("plan")
@AS_OF
@JSON
@NO_DIGEST
@click.pass_context
def plan_cmd(ctx: click.Context, as_of: str | None, as_json: bool, no_digest: bool) -> None:
    """Like run, but write nothing: print every change it would make and digest it would send."""
    _run(ctx, as_of, as_json, dry_run=True, digest=not no_digest)


