"""The `kamrules` command group: error handling, exit codes and the subcommands."""

from __future__ import annotations

import gc
import os
import sys
from pathlib import Path
from typing import Any

import click

from kamrules import __version__
from kamrules.cli.common import err, labelled
from kamrules.cli.importing import import_csv_cmd
from kamrules.cli.inspect import explain_cmd, history_cmd
from kamrules.cli.packs import facts_cmd, rules_cmd, test_cmd, validate_cmd
from kamrules.cli.plays import plays_cmd
from kamrules.cli.report import report_cmd
from kamrules.cli.run_plan import plan_cmd, run_cmd
from kamrules.cli.snooze import snooze_group
from kamrules.errors import ExitCode, KamError, ValidationFailed


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




for _command in (run_cmd, plan_cmd, validate_cmd, test_cmd, rules_cmd, facts_cmd, explain_cmd,
                 history_cmd, report_cmd, snooze_group, import_csv_cmd):
    cli.add_command(_command)
cli.add_command(plays_cmd)


def main() -> None:
    try:
        cli.main(prog_name="kamrules", standalone_mode=True)
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)


__all__ = ["ExitCode", "cli", "main"]


if __name__ == "__main__":
    main()
