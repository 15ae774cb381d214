"""The `kamrules` command: wires config, connector, packs and the run; prints what happened."""

from __future__ import annotations

import contextlib
import gc
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn
from rich.table import Table
from rich.text import Text

from kamrules import __version__
from kamrules.config import LoadedConfig, load_config, load_configured_packs
from kamrules.errors import CasesFailed, ExitCode, KamError, ValidationFailed
from kamrules.facts import REGISTRY
from kamrules.loader import LoadedPack

# No markup: CRM text such as a "[kamrules] ..." subject must print as it is; labels are styled
# through `labelled`.
out = Console(highlight=False, soft_wrap=True, markup=False)
err = Console(stderr=True, highlight=False, soft_wrap=True, markup=False)


def labelled(label: str, style: str, message: str) -> Text:
    """`label message` with only the label styled."""
    return Text.assemble((label, style), " ", message)


def _as_of(value: str | None) -> date:
    if value is None:
        return date.today()
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date like 2026-11-23") from None


class KamGroup(click.Group):
    """Turns the user's mistakes into one clear message and a named exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except BrokenPipeError:  # output piped into `head` and the like: stop quietly
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            ctx.exit(0)
        except KamError as exc:
            if isinstance(exc, ValidationFailed):
                for problem in exc.problems:
                    err.print(labelled("error", "red", str(problem)))
                err.print(f"{len(exc.problems)} problem(s) found.")
            else:
                err.print(labelled("error", "red", str(exc)))
            ctx.exit(int(exc.exit_code))
        except Exception as exc:
            if os.environ.get("KAMRULES_DEBUG"):
                raise
            err.print(labelled("internal error", "red", f"{type(exc).__name__}: {exc}"))
            err.print("This is a bug in kamrules; set KAMRULES_DEBUG=1 to see the traceback.")
            ctx.exit(int(ExitCode.INTERNAL))


@click.group(cls=KamGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="kamrules")
@click.option(
    "--config", "config_path", type=click.Path(path_type=Path),
    help="Config file. Default: ./kamrules.yaml if present, else the embedded local CRM "
    "with the built-in kam-core pack.",
)
@click.pass_context
def cli(ctx: click.Context, config_path: Path | None) -> None:
    """Key Account Management rules for your CRM.

    Pulls key-account data from the CRM (Salesforce, HubSpot or the embedded local CRM),
    evaluates rule packs and writes the findings back as tasks, without ever duplicating one.

    \b
    Exit codes: 0 success, 1 some writes failed, 2 usage/config/pack error,
    3 another run holds the lock, 4 the CRM refused or failed.
    """
    ctx.obj = {"config_path": config_path}
    # A run allocates millions of small, long-lived objects; CPython's default collector
    # thresholds rescan them over and over (half the pull time at 100,000 accounts, bench/run).
    gc.set_threshold(100_000, 50, 100)


def _loaded(ctx: click.Context) -> LoadedConfig:
    return load_config(ctx.obj["config_path"])


def _packs(ctx: click.Context, refs: tuple[str, ...]) -> list[LoadedPack]:
    """The packs named on the command line (folders or built-in names), else the config's."""
    from kamrules.loader import load_packs, resolve_pack

    if refs:
        return load_packs([resolve_pack(ref, Path.cwd()) for ref in refs])
    return load_configured_packs(_loaded(ctx))


@contextmanager
def progress_display(enabled: bool) -> Iterator[Callable[[str, int, int | None], None]]:
    """A progress bar on stderr when it is a terminal; silent otherwise."""
    if not enabled or not err.is_terminal:
        yield lambda step, done, total: None
        return
    bars: dict[str, Any] = {}
    with Progress(TextColumn("{task.description:<9}"), BarColumn(), TaskProgressColumn(),
                  console=err, transient=True) as progress:
        def update(step: str, done: int, total: int | None) -> None:
            if step not in bars:
                bars[step] = progress.add_task(step, total=total)
            progress.update(bars[step], completed=done, total=total)

        yield update


def _run(ctx: click.Context, as_of: str | None, as_json: bool, dry_run: bool,
         lock_wait: float | None = None) -> None:
    from connectors.base import open_connector
    from kamrules.config import crm_section
    from kamrules.lock import RunLock, lock_path
    from kamrules.snooze import load_snoozes
    from kamrules.state import StateStore
    from kamrules.sync import now_iso, run

    loaded = _loaded(ctx)
    packs = load_configured_packs(loaded)
    snoozes = load_snoozes(loaded.snoozes_path)
    day = _as_of(as_of)
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
                report = run(connector, packs, loaded, day, dry_run, progress, snoozes)
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
    for w in report.warnings:
        err.print(labelled("warning", "yellow", f"skipped {w.kind} {w.record_id}: {w.message}"))
    counts = ", ".join(f"{n} {verb + ' be ' if verb else ''}{k}".replace("  ", " ")
                       for k, n in report.counts.items() if n)
    out.print(
        f"{report.accounts} accounts, {report.findings} findings as of {report.as_of}: "
        f"{counts or 'nothing to do'}; {len(report.warnings)} warnings; "
        f"{report.api_calls} API calls."
    )


AS_OF = click.option("--as-of", "as_of", metavar="DATE",
                     help="Evaluate as of this date (YYYY-MM-DD). Default: today.")
JSON = click.option("--json", "as_json", is_flag=True,
                    help="Print the run report as JSON (counts and every task change).")


@cli.command("run")
@AS_OF
@JSON
@click.option("--lock-wait", type=float, metavar="SECONDS",
              help="How long to wait for another run on the same CRM to finish (default: "
              "lock_wait_seconds in the config, 30).")
@click.pass_context
def run_cmd(ctx: click.Context, as_of: str | None, as_json: bool, lock_wait: float | None) -> None:
    """Pull, evaluate and write tasks back to the CRM."""
    _run(ctx, as_of, as_json, dry_run=False, lock_wait=lock_wait)


@cli.command("plan")
@AS_OF
@JSON
@click.pass_context
def plan_cmd(ctx: click.Context, as_of: str | None, as_json: bool) -> None:
    """Like run, but write nothing: print every change it would make."""
    _run(ctx, as_of, as_json, dry_run=True)


@cli.command("validate")
@click.argument("packs", nargs=-1, required=False)
@click.pass_context
def validate_cmd(ctx: click.Context, packs: tuple[str, ...]) -> None:
    """Check rule packs (folders or built-in names) and the config; report every problem."""
    for pack in _packs(ctx, packs):
        out.print(f"{pack.id} {pack.version}: {len(pack.rules)} rules, {len(pack.params)} params, ok")


@cli.command("test")
@click.argument("packs", nargs=-1, required=False)
@click.pass_context
def test_cmd(ctx: click.Context, packs: tuple[str, ...]) -> None:
    """Run the YAML test cases of rule packs (folders or built-in names)."""
    from collections import Counter

    from kamrules.packtest import cases_of, run_cases

    failed = 0
    for pack in _packs(ctx, packs):
        results = run_cases(pack, cases_of(pack.directory))
        per_rule: Counter[str] = Counter()
        for item, errors in results:
            for rule in (*item.case.fires, *item.case.silent):
                per_rule[rule] += 1
            if errors:
                failed += 1
                out.print(labelled("FAIL", "red", f"{item.location} {item.case.name}"))
                for e in errors:
                    out.print(f"       {e}")
        untested = [r.id for r in pack.rules if per_rule[r.id] == 0]
        out.print(f"{pack.id}: {len(results)} cases, {len(results) - sum(1 for _, e in results if e)}"
                  f" passed; rules without a case: {', '.join(untested) or 'none'}")
    if failed:
        raise CasesFailed(f"{failed} case(s) failed")


@cli.command("rules")
@click.argument("packs", nargs=-1, required=False)
@click.option("--format", "fmt", type=click.Choice(["table", "markdown", "json"]),
              default="table", show_default=True, help="Output format.")
@click.pass_context
def rules_cmd(ctx: click.Context, packs: tuple[str, ...], fmt: str) -> None:
    """List the rules of the configured packs (or of the PACKS given)."""
    from kamrules.conditions import describe
    from kamrules.docs import pack_markdown

    loaded_packs = _packs(ctx, packs)
    if fmt == "markdown":
        click.echo("\n".join(pack_markdown(p) for p in loaded_packs), nl=False)
        return
    if fmt == "json":
        click.echo(json.dumps([
            {"pack": p.id, "id": r.id, "title": r.title, "severity": r.severity,
             "principles": r.principles, "enabled": r.id not in p.disabled and r.enabled,
             "when": describe(r.when, p.values)}
            for p in loaded_packs for r in p.rules
        ], indent=2))
        return
    table = Table()
    for column in ("pack", "id", "severity", "principles", "title", "fires when"):
        table.add_column(column, overflow="fold")
    for p in loaded_packs:
        for r in p.rules:
            off = "" if r.enabled and r.id not in p.disabled else " (disabled)"
            table.add_row(p.id, r.id + off, r.severity, ", ".join(r.principles), r.title,
                          describe(r.when, p.values))
    out.print(table)


@cli.command("facts")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def facts_cmd(as_json: bool) -> None:
    """List every fact rules can read: name, type, unit and meaning."""
    specs = sorted(REGISTRY.values(), key=lambda s: s.name)
    if as_json:
        click.echo(json.dumps([
            {"name": s.name, "type": s.type, "unit": s.unit, "meaning": s.meaning,
             "principles": list(s.principles)} for s in specs], indent=2))
        return
    table = Table()
    for column in ("fact", "type", "unit", "meaning"):
        table.add_column(column, overflow="fold")
    for s in specs:
        table.add_row(s.name, s.type, s.unit, s.meaning)
    out.print(table)


@cli.command("explain")
@click.argument("account")
@AS_OF
@click.pass_context
def explain_cmd(ctx: click.Context, account: str, as_of: str | None) -> None:
    """Every rule for one ACCOUNT (id or exact name): holds or not, and the facts why."""
    from connectors.base import open_connector
    from kamrules.conditions import describe
    from kamrules.engine import Engine, evidence_facts
    from kamrules.facts import account_views, facts_for
    from kamrules.template import show

    loaded = _loaded(ctx)
    packs = load_configured_packs(loaded)
    connector = open_connector(loaded)
    try:
        snapshot = connector.pull(_as_of(as_of))
    finally:
        connector.close()
    view = next((v for v in account_views(snapshot)
                 if account in (v.account.id, v.account.name)), None)
    if view is None:
        raise KamError(f"no account with id or name {account!r}")
    facts = facts_for(view)
    holding = set(Engine(packs).matches(facts))
    out.print(Text.assemble((view.account.name, "bold"), f" ({view.account.id}) as of {snapshot.as_of}"
                            f"{' - key account' if view.account.is_key else ''}"))
    for pack in packs:
        for rule in sorted(pack.active_rules, key=lambda r: r.id):
            holds = f"{pack.id}|{rule.id}" in holding
            mark = labelled("HOLDS", "red", "") if holds else labelled("ok   ", "green", "")
            out.print(mark + Text(f"{rule.id} {rule.title}"))
            out.print(f"        when {describe(rule.when, pack.values)}")
            values = ", ".join(f"{n}={show(facts.get(n))}" for n in evidence_facts(rule))
            out.print(f"        facts: {values}")


@cli.command("history")
@click.option("--limit", default=20, show_default=True, help="How many runs to show.")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.pass_context
def history_cmd(ctx: click.Context, limit: int, as_json: bool) -> None:
    """Past runs: when, outcome, counts and API calls."""
    from kamrules.state import StateStore

    store = StateStore(_loaded(ctx).state_dir)
    runs = store.history(limit)
    store.close()
    if as_json:
        click.echo(json.dumps(runs, indent=2))
        return
    table = Table()
    for column in ("run", "started", "as of", "mode", "outcome", "counts", "API calls"):
        table.add_column(column)
    for r in runs:
        counts = ", ".join(f"{k} {v}" for k, v in r["counts"].items() if v)
        table.add_row(str(r["id"]), r["started"], r["as_of"], r["mode"], r["outcome"] or "",
                      counts, str(r["api_calls"] or 0))
    out.print(table)


@cli.command("report")
@click.option("--as-of", "as_of", metavar="DATE",
              help="Report as of this date (YYYY-MM-DD). Default: the latest run's date, else today.")
@click.option("--format", "fmt", type=click.Choice(["html", "json"]), default="html",
              show_default=True, help="A self-contained HTML page, or the same content as JSON.")
@click.option("-o", "--output", metavar="FILE",
              help="Where to write it ('-' for stdout). Default: kamrules-report.html or .json.")
@click.pass_context
def report_cmd(ctx: click.Context, as_of: str | None, fmt: str, output: str | None) -> None:
    """The key-account portfolio at a glance: health, heatmap, owners, what changed.

    Evaluates the configured packs over the CRM (writing nothing, like plan), reads kamrules'
    tasks back from the CRM and the run history for trends and the latest run's changes.
    """
    from datetime import timedelta

    from connectors.base import open_connector
    from kamrules.cleaning import clean
    from kamrules.portfolio import build_report
    from kamrules.report_html import render_html
    from kamrules.state import StateStore
    from kamrules.sync import evaluate, now_iso

    path = Path(output or f"kamrules-report.{fmt}")
    if output != "-" and not os.access(path.parent, os.W_OK):  # before the long part
        raise click.BadParameter(f"cannot write into {path.parent}", param_hint="--output")
    loaded = _loaded(ctx)
    packs = load_configured_packs(loaded)
    store = StateStore(loaded.state_dir)
    runs = store.reports()
    store.close()
    run_days = [date.fromisoformat(r["as_of"]) for r in runs if r.get("mode") == "run"]
    day = _as_of(as_of) if as_of else (run_days[-1] if run_days else date.today())
    earlier = [d for d in run_days if d < day]
    since = min([day - timedelta(days=loaded.config.lifecycle.renotify_after_days), *earlier[-1:]])
    connector = open_connector(loaded)
    try:
        with progress_display(output != "-") as progress:
            snapshot = clean(connector.pull(day, progress))
            findings, _ = evaluate(snapshot, packs, progress)
        tasks = connector.list_tasks(since)
    finally:
        connector.close()
    report = build_report(snapshot, findings, packs, tasks, runs,
                          loaded.config.report.health_weights.model_dump(), now_iso())
    text = render_html(report) if fmt == "html" else report.model_dump_json(indent=2)
    if output == "-":
        click.echo(text)
        return
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise click.BadParameter(f"cannot write {path}: {exc.strerror}", param_hint="--output") from None
    s = report.summary
    out.print(f"wrote {path}: {s.key_accounts} key accounts as of {report.as_of},"
              f" {s.share_without_serious:.0%} with no high or critical finding;"
              f" {s.findings} findings, {s.open_tasks} open tasks ({s.overdue_tasks} overdue).")


@cli.group("snooze")
def snooze_group() -> None:
    """Exceptions for one account and rule (or one account, or one rule), with an expiry.

    Kept in snoozes.yaml beside the config (a file to version); expired snoozes stop applying
    by themselves; snoozed findings are reported as snoozed.
    """


@snooze_group.command("add")
@click.option("--account", help="Account id (omit to snooze the rule for every account).")
@click.option("--rule", help="Rule id, e.g. KAM-REL-004, or pack/rule (omit for every rule).")
@click.option("--reason", required=True, help="Why: shown in the run report.")
@click.option("--by", "requested_by", required=True, help="Who asked for it.")
@click.option("--until", "until", metavar="DATE", help="Last day it applies (YYYY-MM-DD).")
@click.option("--days", type=click.IntRange(1, 3650), help="Or: how many days from today.")
@click.pass_context
def snooze_add(ctx: click.Context, account: str | None, rule: str | None, reason: str,
               requested_by: str, until: str | None, days: int | None) -> None:
    """Add a snooze."""
    from datetime import timedelta

    from pydantic import ValidationError

    from kamrules.snooze import Snooze, load_snoozes, save_snoozes

    if (until is None) == (days is None):
        raise click.UsageError("give exactly one of --until DATE or --days N")
    end = _as_of(until) if until else date.today() + timedelta(days=days or 0)
    loaded = _loaded(ctx)
    if rule:
        rules = [(p.id, r.id) for p in load_configured_packs(loaded) for r in p.rules]
        known = {r for _, r in rules} | {f"{p}/{r}" for p, r in rules}
        if rule not in known:
            raise KamError(f"no rule {rule!r} in the configured packs")
    try:
        new = Snooze(account=account, rule=rule, reason=reason, requested_by=requested_by,
                     until=end, created=date.today())
    except ValidationError as exc:
        raise KamError(exc.errors(include_url=False)[0]["msg"].removeprefix("Value error, ")) from None
    snoozes = load_snoozes(loaded.snoozes_path) + [new]
    save_snoozes(loaded.snoozes_path, snoozes)
    out.print(f"added #{len(snoozes)}: {new.describe()}")


@snooze_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.pass_context
def snooze_list(ctx: click.Context, as_json: bool) -> None:
    """List snoozes, numbered, with whether each is still active."""
    from kamrules.snooze import load_snoozes

    snoozes = load_snoozes(_loaded(ctx).snoozes_path)
    today = date.today()
    if as_json:
        click.echo(json.dumps([{**s.model_dump(mode="json"), "active": s.active(today)}
                               for s in snoozes], indent=2))
        return
    if not snoozes:
        out.print("no snoozes")
    for i, s in enumerate(snoozes, 1):
        state = "active " if s.active(today) else "expired"
        out.print(f"#{i} {state} {s.describe()}")


@snooze_group.command("remove")
@click.argument("numbers", nargs=-1, type=int)
@click.option("--expired", is_flag=True, help="Remove every expired snooze.")
@click.pass_context
def snooze_remove(ctx: click.Context, numbers: tuple[int, ...], expired: bool) -> None:
    """Remove snoozes by their number in `snooze list`, or all expired ones."""
    from kamrules.snooze import load_snoozes, save_snoozes

    loaded = _loaded(ctx)
    snoozes = load_snoozes(loaded.snoozes_path)
    bad = [n for n in numbers if not 1 <= n <= len(snoozes)]
    if bad or not (numbers or expired):
        raise click.UsageError(f"give snooze numbers from 1 to {len(snoozes)}, or --expired")
    today = date.today()
    keep = [s for i, s in enumerate(snoozes, 1)
            if i not in numbers and not (expired and not s.active(today))]
    save_snoozes(loaded.snoozes_path, keep)
    out.print(f"removed {len(snoozes) - len(keep)}; {len(keep)} left")


@cli.command("import-csv")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.pass_context
def import_csv_cmd(ctx: click.Context, directory: Path) -> None:
    """Load a CSV export (accounts.csv, contacts.csv, ...) into the local CRM."""
    from connectors.base import open_connector
    from connectors.csv_import import import_directory

    loaded = _loaded(ctx)
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


def main() -> None:
    try:
        cli.main(prog_name="kamrules", standalone_mode=True)
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)


__all__ = ["ExitCode", "cli", "main"]


if __name__ == "__main__":
    main()
