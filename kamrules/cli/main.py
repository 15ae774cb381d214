"""The `kamrules` command group: error handling, exit codes and the subcommands."""

from __future__ import annotations

import atexit
import contextlib
import gc
import json
import os
import sqlite3
import sys
import threading
from pathlib import Path
from typing import Any

import click

from kamrules import __version__
from kamrules.cli.common import err, labelled
from kamrules.cli.distributed import enqueue_cmd, schedule_cmd, status_cmd, worker_cmd
from kamrules.cli.doctor import doctor_cmd
from kamrules.cli.explain import explain_cmd
from kamrules.cli.importing import import_csv_cmd
from kamrules.cli.inspect import history_cmd
from kamrules.cli.packs import facts_cmd, rules_cmd, test_cmd
from kamrules.cli.packs_admin import pack_group, packs_cmd
from kamrules.cli.plays import plays_cmd
from kamrules.cli.report import report_cmd
from kamrules.cli.run_plan import json_failure, plan_cmd, run_cmd
from kamrules.cli.snooze import snooze_group
from kamrules.cli.validate import validate_cmd
from kamrules.errors import ExitCode, KamError, ValidationFailed
from kamrules.inputs.boundary import cap
from kamrules.inputs.environment import as_environment_failure
from kamrules.inputs.sanitize import clipped


class KamGroup(click.Group):
    """Turns the user's mistakes into one clear message and a named exit code."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """`--config FILE` may come anywhere on the line (`kamrules run --config x.yaml`)."""
        ctx.meta["kamrules.args"] = list(args)
        try:
            return super().parse_args(ctx, config_first(args))
        except click.ClickException as exc:
            _json_error(ctx, _clipped(exc), exc.exit_code)
            raise exc from None

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.ClickException as exc:  # a command line click refused: JSON too if asked
            _clipped(exc)
            if ctx.invoked_subcommand in ("run", "plan") and _wants_json(ctx) \
                    and not getattr(exc, "json_reported", False):
                json_failure(ctx.invoked_subcommand, exc)
            _json_error(ctx, exc, exc.exit_code)
            raise exc from None
        except (click.exceptions.Exit, click.Abort):
            raise
        except BrokenPipeError:  # output piped into `head` and the like: stop quietly
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            ctx.exit(0)
        except (OSError, sqlite3.Error, RuntimeError) as exc:  # RuntimeError: a symlink loop
            failure = as_environment_failure(exc)
            if failure is None:
                return self._internal(ctx, exc)
            failure.json_reported = getattr(exc, "json_reported", False)  # type: ignore[attr-defined]
            _json_error(ctx, failure, int(failure.exit_code))
            err.print(labelled("error", "red", str(failure)))
            ctx.exit(int(failure.exit_code))
        except KamError as exc:
            _json_error(ctx, exc, int(exc.exit_code))
            if isinstance(exc, ValidationFailed):
                for problem in cap(exc.problems):
                    err.print(labelled("error", "red", str(problem)))
                err.print(f"{len(exc.problems)} problem(s) found.")
            else:
                err.print(labelled("error", "red", str(exc)))
            ctx.exit(int(exc.exit_code))
        except Exception as exc:
            return self._internal(ctx, exc)

    @staticmethod
    def _internal(ctx: click.Context, exc: Exception) -> Any:
        if os.environ.get("KAMRULES_DEBUG"):
            raise exc
        _json_error(ctx, exc, int(ExitCode.INTERNAL))
        err.print(labelled("internal error", "red", f"{type(exc).__name__}: {exc}"))
        err.print("This is a bug in kamrules; set KAMRULES_DEBUG=1 to see the traceback, and"
                  " report it (README: 'Exit codes').")
        ctx.exit(int(ExitCode.INTERNAL))


def _clipped(exc: click.ClickException) -> click.ClickException:
    """click's error for a usage mistake, its overlong values clipped (see `clipped`)."""
    exc.message = clipped(exc.message)
    return exc


def _wants_json(ctx: click.Context) -> bool:
    args = ctx.meta.get("kamrules.args", [])
    return "--json" in args or "--format=json" in args or any(
        a == "--format" and b == "json" for a, b in zip(args, args[1:], strict=False))


def _json_error(ctx: click.Context, exc: Exception, code: int) -> None:
    """With --format json, a command that stops on an error still prints JSON on stdout
    (unless it printed its own report, as run and plan do)."""
    if not _wants_json(ctx) or getattr(exc, "json_reported", False):
        return
    problems = [{"file": p.location.file, "line": p.location.line, "column": p.location.column,
                 "path": p.path, "message": p.message}
                for p in getattr(exc, "problems", [])]
    message = clipped(exc.format_message() if isinstance(exc, click.ClickException)
                      else str(exc) if code != ExitCode.INTERNAL else f"{type(exc).__name__}: {exc}")
    click.echo(json.dumps({"ok": False, "exit_code": code, "error": message,
                           "problems": problems}, indent=2))


def config_first(args: list[str]) -> list[str]:
    """The arguments with every `--config FILE` / `--config=FILE` moved to the front."""
    front: list[str] = []
    rest: list[str] = []
    items = iter(args)
    for arg in items:
        if arg == "--":
            rest += [arg, *items]
            break
        if arg == "--config":
            value = next(items, None)
            front += [arg] if value is None else [arg, value]
        elif arg.startswith("--config="):
            front.append(arg)
        else:
            rest.append(arg)
    return front + rest
def _print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    """`--version`: the version, and which rule engine runs here (durable_rules or python)."""
    if not value or ctx.resilient_parsing:
        return
    from kamrules.evaluation.engine import EngineUnavailable, describe_engines

    try:
        engines = describe_engines()
    except EngineUnavailable as exc:
        engines = f"engine: {exc}"
    click.echo(f"kamrules, version {__version__} (Python {sys.version.split()[0]})\n{engines}")
    ctx.exit()


@click.group(cls=KamGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--version", is_flag=True, expose_value=False, is_eager=True, callback=_print_version,
              help="Show the version and the rule engine that runs here, and exit.")
@click.option(
    "--config", "config_path", type=click.Path(path_type=Path),
    help="Config file (may come anywhere on the line). Default: $KAMRULES_CONFIG, else "
    "kamrules.yaml (or .yml) in this folder or the nearest parent, else the embedded demo CRM with the "
    "built-in kam-core pack.",
)
@click.pass_context
def cli(ctx: click.Context, config_path: Path | None) -> None:
    """Key Account Management rules for your CRM.

    Pulls key-account data from the CRM (Salesforce, HubSpot or the embedded local CRM),
    evaluates rule packs and writes the findings back as tasks, without ever duplicating one.

    \b
    Exit codes: 0 success, 1 some writes failed, 2 usage/config/pack error,
    3 another run holds the lock, 4 the CRM refused or failed,
    5 internal error (a bug in kamrules; KAMRULES_DEBUG=1 shows the traceback),
    6 the data-quality gate stopped the run (nothing written; see docs/mapping.md),
    7 a file or folder it needs is unreadable, read-only, full or corrupt.

    \b
    The first line on stderr names the config file and the CRM in use.
    Every command takes --format text|json (--json is the same as --format json).
    """
    ctx.obj = {"config_path": config_path}
    # A run allocates millions of small, long-lived objects; CPython's default collector
    # thresholds rescan them over and over (half the pull time at 100,000 accounts, bench/run).
    gc.set_threshold(100_000, 50, 100)




for _command in (run_cmd, plan_cmd, validate_cmd, test_cmd, rules_cmd, facts_cmd, explain_cmd,
                 history_cmd, report_cmd, snooze_group, import_csv_cmd, doctor_cmd,
                 worker_cmd, schedule_cmd, enqueue_cmd, status_cmd, packs_cmd, pack_group):
    cli.add_command(_command)
cli.add_command(plays_cmd)


def main() -> None:
    try:
        cli.main(prog_name="kamrules", standalone_mode=True)
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
    except SystemExit as done:
        _end_now(done)
        raise


def _end_now(done: SystemExit) -> None:
    """The process ends here, as any exit would (output flushed, exit handlers run), but
    without the interpreter then freeing every object one by one: after a run over a million
    accounts that is seconds of nothing. Only in the process's own entry point (a test's
    CliRunner never gets here); a text exit code, another thread still running or output
    that cannot be flushed go the usual way."""
    code = done.code
    if (code is not None and type(code) is not int) or threading.active_count() > 1:
        return
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):  # a closed pipe: the usual exit reports it
        return
    atexit._run_exitfuncs()  # noqa: SLF001 - what the interpreter runs at exit, run now
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code or 0)


__all__ = ["ExitCode", "cli", "main"]


if __name__ == "__main__":
    main()
