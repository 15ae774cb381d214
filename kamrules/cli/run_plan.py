"""`kamrules run` and `kamrules plan`: one run through the pipeline, and what it changed."""

from __future__ import annotations

import contextlib
import math
import sys
from datetime import date
from typing import Any

import click

from kamrules.cli.common import (
    AS_OF,
    as_of_date,
    err,
    formats,
    labelled,
    loaded_config,
    progress_display,
)
from kamrules.cli.run_text import print_report
from kamrules.errors import ExitCode, KamError, LockedError
from kamrules.inputs.environment import as_environment_failure
from kamrules.inputs.sanitize import clipped, json_safe_bytes
from kamrules.model import RecordWarning
from kamrules.run.config import load_configured_packs


def _code(exc: BaseException) -> int:
    """The exit code an exception ends the command with (see kamrules.errors.ExitCode)."""
    if isinstance(exc, KamError):
        return int(exc.exit_code)
    if isinstance(exc, click.ClickException):
        return int(exc.exit_code)
    failure = as_environment_failure(exc)  # a full disk, a read-only folder: not a bug
    return int(failure.exit_code) if failure is not None else int(ExitCode.INTERNAL)


def _last_run_as_of(state: Any) -> tuple[date, int] | None:
    """The as-of date and id of the latest run that wrote (plans do not count)."""
    for row in state.history(500):
        if row["mode"] == "run" and row["outcome"] in ("ok", "partial"):
            try:
                return date.fromisoformat(row["as_of"]), int(row["id"])
            except (TypeError, ValueError):  # a damaged row (`history` shows it): no date
                continue
    return None


def _run(ctx: click.Context, as_of: str | None, fmt: str, dry_run: bool, limit: int,
         lock_wait: float | None = None, force: bool = False, digest: bool = True) -> None:
    as_json = fmt == "json"
    holder: dict[str, Any] = {}
    try:
        day = holder["as_of"] = as_of_date(as_of)
        report = _pipeline(ctx, day, as_json, dry_run, lock_wait, force, holder, digest)
    except Exception as exc:
        if not as_json or isinstance(exc, click.exceptions.Exit | click.Abort):
            raise
        json_failure("plan" if dry_run else "run", exc, holder)
        raise
    if as_json:
        echo_json(report)
    else:
        print_report(report, dry_run, limit)
        if report.accounts == 0 and report.outcome == "ok":
            _no_accounts(ctx)
    ctx.exit(report.exit_code)


def _no_accounts(ctx: click.Context) -> None:
    """Where accounts come from, when a run found none: a local CRM in a config of one's own
    starts empty (`seed: empty` unless it says `seed: demo`), and "nothing to do" said no more."""
    from kamrules.cli.common import err, labelled

    crm = loaded_config(ctx).config.crm
    if isinstance(crm, dict) and crm.get("type", "local") == "local":
        hint = ("load a CSV export with `kamrules import-csv DIR`, or write `seed: demo` under"
                " `crm:` for the demo portfolio")
    else:
        hint = "`kamrules doctor` shows what the mapping reads from the CRM"
    err.print(labelled("note", "yellow", f"the CRM holds no accounts: {hint}"))


def json_failure(mode: str, exc: Exception, holder: dict[str, Any] | None = None) -> None:
    """The report of a run or plan that stopped on `exc`, as JSON on stdout (the report so far,
    if `holder` has one): `outcome: error`, its exit code and error. Also for a command line
    click refused before the run began (the group's); today's date where none was read."""
    from kamrules.run.sync import RunReport, now_iso

    holder = holder or {}
    code = _code(exc)
    failed = holder.get("report") or RunReport(
        mode=mode, as_of=holder.get("as_of", date.today()), started=now_iso(), finished=now_iso(),
        api_calls=holder.get("api_calls", 0))
    failed.outcome, failed.exit_code = "error", int(code)
    message = exc.format_message() if isinstance(exc, click.ClickException) else str(exc)
    failed.error = clipped(f"{type(exc).__name__}: {exc}" if code == ExitCode.INTERNAL else message)
    echo_json(failed)
    exc.json_reported = True  # type: ignore[attr-defined]  # the group prints no second one


def echo_json(model: Any) -> None:
    """A report (a run's, a plan's, a what-if's) as JSON (indent 2) on stdout, written as the
    UTF-8 bytes pydantic makes, a batch of changes at a time (`json_pieces`): at a million
    accounts a run's is ~170 MB, which made whole was the run's peak of memory."""
    from kamrules.report.streamed import json_pieces

    sys.stdout.flush()  # what was echoed as text goes first
    out = getattr(sys.stdout, "buffer", None)
    for piece in json_pieces(model, indent=2):
        piece = json_safe_bytes(piece)  # pieces end between characters: the same escapes
        if out is None:  # a text-only stdout (an embedding program's)
            click.echo(piece.decode(), nl=False)
        else:
            out.write(piece)
    if out is None:
        click.echo("")
        return
    out.write(b"\n")
    out.flush()


def _pipeline(ctx: click.Context, day: date, as_json: bool, dry_run: bool,
              lock_wait: float | None, force: bool, holder: dict[str, Any], digest: bool = True) -> Any:
    """Load, lock, pull, evaluate, reconcile and (for run) apply; history records every end."""
    from kamrules.cli.wiring import open_connector
    from kamrules.run.config import crm_section
    from kamrules.run.lock import RunLock, lock_path
    from kamrules.run.snooze import load_snoozes
    from kamrules.run.state import StateStore
    from kamrules.run.sync import RunReport, now_iso, run

    loaded = loaded_config(ctx)
    if ctx.meta.get("kamrules.workers"):
        loaded.config.workers = ctx.meta["kamrules.workers"]
    packs = load_configured_packs(loaded)
    snoozes = load_snoozes(loaded.snoozes_path)
    state = StateStore(loaded.state_dir)
    last = _last_run_as_of(state)
    earlier = last is not None and day < last[0]
    mode = "plan" if dry_run else "run"
    if earlier and not dry_run and not force:
        _refused(state, day, mode, holder, KamError(
            f"--as-of {day} is earlier than the last run's ({last[0]}, run #{last[1]}): a run"
            " then would close tasks whose findings only appear later. `kamrules plan --as-of"
            f" {day}` shows what it would change; add --force to run it anyway"))
    wait = loaded.config.lock_wait_seconds if lock_wait is None else lock_wait
    # A plan writes nothing, so it never waits for a run; a run holds the CRM's lock.
    lock = RunLock(lock_path(loaded.state_dir, crm_section(loaded)), wait)
    with contextlib.ExitStack() as held:
        if not dry_run:
            try:
                held.enter_context(lock)
            except LockedError as exc:
                _refused(state, day, mode, holder, exc)
        if lock.took_over:
            err.print(labelled("warning", "yellow",
                               f"the previous run (pid {lock.took_over.get('pid')}, started"
                               f" {lock.took_over.get('started')}) did not finish; taking over"))
        run_id = state.start_run(now_iso(), day.isoformat(), mode)
        started = now_iso()
        connector = None
        try:
            connector = open_connector(loaded)
            with progress_display(not as_json) as progress:
                report = run(connector, packs, loaded, day, dry_run, progress, snoozes,
                             digest=digest)
            _send_digest(report, loaded, state, dry_run)
        except BaseException as exc:
            calls = getattr(connector, "api_calls", 0) if connector is not None else 0
            failed = RunReport(mode="plan" if dry_run else "run", as_of=day, started=started,
                               finished=now_iso(), outcome="error", exit_code=_code(exc),
                               api_calls=calls or 0, error=str(exc))
            holder["report"] = failed
            state.finish_run(run_id, failed)
            state.close()
            raise
        finally:
            if connector is not None:
                connector.close()
        state.finish_run(run_id, report)
        state.close()
    if earlier and dry_run:
        closing = sum(1 for c in report.changes if c.action == "close")
        words = (f"--as-of {day} is earlier than the last run's ({last[0]}): this plan would close"
                 f" {closing} task(s); `run` refuses such a date without --force")
        err.print(labelled("warning", "yellow", words))
        report.warnings.append(RecordWarning(kind="as_of", record_id=day.isoformat(), message=words))
    return report


def _refused(state: Any, day: date, mode: str, holder: dict[str, Any], exc: KamError) -> None:
    """A run refused before it started (locked, time travel): a history row, then the error."""
    from kamrules.run.sync import RunReport, now_iso

    started = now_iso()
    failed = RunReport(mode=mode, as_of=day, started=started, finished=started, outcome="error",
                       exit_code=int(exc.exit_code), error=str(exc))
    holder["report"] = failed
    state.finish_run(state.start_run(started, day.isoformat(), mode), failed)
    state.close()
    raise exc


def _send_digest(report: Any, loaded: Any, state: Any, dry_run: bool) -> None:
    """After the write-back: one digest per owner, sent once; a failure only shows in the report
    (docs/playbooks.md)."""
    settings = loaded.config.digest
    if report.digest is None or settings is None or dry_run:
        return
    from kamrules.digest.send import send_all  # (requests, smtplib: only when a digest is sent)

    report.digest = send_all(report.digest.messages, settings, loaded.base_dir, state)


NO_DIGEST = click.option("--no-digest", "no_digest", is_flag=True,
                         help="Do not build or send the per-owner digest this time.")


def _finite(value: float | None) -> float | None:
    """A FloatRange admits NaN (no comparison with it is true): a wait of NaN never ended."""
    if value is not None and math.isnan(value):
        raise click.BadParameter("not a number of seconds")
    return value


WORKERS = click.option("--workers", "workers", type=click.IntRange(1, 64), metavar="N",
                       help="Processes that evaluate accounts (default: workers in the config, "
                       "else the machine's cores); the result is the same for any number.")
LIMIT = click.option("--limit", "limit", type=click.IntRange(0), default=10, show_default=True,
                     help="Changes shown per group, and warnings per kind (0: all); --format"
                     " json lists every one.")


@click.command("run")
@formats("text", "json")
@AS_OF
@LIMIT
@click.option("--lock-wait", type=click.FloatRange(0, 86_400), metavar="SECONDS",
              callback=lambda _ctx, _param, value: _finite(value),
              help="How long to wait for another run on the same CRM to finish, 0 to 86400"
              " (default: lock_wait_seconds in the config, 30).")
@click.option("--force", is_flag=True,
              help="Run even with an --as-of earlier than the last run's.")
@NO_DIGEST
@WORKERS
@click.pass_context
def run_cmd(ctx: click.Context, as_of: str | None, fmt: str, limit: int, lock_wait: float | None,
            force: bool, no_digest: bool, workers: int | None) -> None:
    """Pull, evaluate and write tasks back to the CRM; then send each owner's digest.

    With --format json the run report is printed on every exit code, errors included.
    """
    ctx.meta["kamrules.workers"] = workers
    _run(ctx, as_of, fmt, dry_run=False, limit=limit, lock_wait=lock_wait, force=force,
         digest=not no_digest)


@click.command("plan")
@formats("text", "json")
@AS_OF
@LIMIT
@click.option("--set", "sets", multiple=True, metavar="PACK.PARAM=VALUE",
              help="What-if: plan with this param changed too, and print the difference.")
@click.option("--disable", "disable", multiple=True, metavar="RULE",
              help="What-if: plan with this rule (RULE or PACK/RULE) disabled too.")
@click.option("--pack", "extra", multiple=True, metavar="PATH",
              help="What-if: plan with this pack folder in place of the configured one with its id,"
              " or of the one it extends (else added).")
@NO_DIGEST
@WORKERS
@click.pass_context
def plan_cmd(ctx: click.Context, as_of: str | None, fmt: str, limit: int, sets: tuple[str, ...],
             disable: tuple[str, ...], extra: tuple[str, ...], no_digest: bool,
             workers: int | None) -> None:
    """Like run, but write nothing: print every change it would make and digest it would send.

    With --set, --disable or --pack: plan the current and the changed configuration over the
    same records and print how they differ (findings per rule, tasks per owner, accounts).
    """
    ctx.meta["kamrules.workers"] = workers
    if sets or disable or extra:
        _what_if(ctx, as_of_date(as_of), fmt, limit, sets, disable, extra)
        return
    _run(ctx, as_of, fmt, dry_run=True, limit=limit, digest=not no_digest)


def _what_if(ctx: click.Context, day: date, fmt: str, limit: int, sets: tuple[str, ...],
             disable: tuple[str, ...], extra: tuple[str, ...]) -> None:
    from pathlib import Path

    from kamrules.cli.wiring import open_connector
    from kamrules.run.snooze import load_snoozes
    from kamrules.run.whatif import Changes, changed_packs, parse_set, render, what_if

    loaded = loaded_config(ctx)
    parsed = parse_set(sets)
    current = load_configured_packs(loaded)
    changed = changed_packs(loaded, parsed, disable, extra, Path.cwd())
    said = Changes(set={f"{p}.{k}": v for p, kv in parsed.items() for k, v in kv.items()},
                   disable=list(disable), packs=list(extra))
    connector = open_connector(loaded)
    try:
        with progress_display(fmt != "json") as progress:
            result = what_if(connector, current, changed, loaded, day, said, progress,
                             load_snoozes(loaded.snoozes_path),
                             workers=ctx.meta.get("kamrules.workers"))
    finally:
        connector.close()
    if fmt == "json":
        echo_json(result)
    else:
        for line in render(result, limit):
            click.echo(line)
