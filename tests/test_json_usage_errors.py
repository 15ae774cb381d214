"""With --format json a command prints JSON on stdout on every exit code (README), a command
line that click refuses included: `run --json --limit abc` printed nothing on stdout (a cron
job's report file was left empty), and `run --json --as-of 2026-13-01` neither."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from kamrules.cli.main import cli


def _invoke(tmp_path: Path, *args: str) -> tuple[int, dict, str]:
    result = CliRunner().invoke(cli, ["--config", str(tmp_path / "none.yaml"), *args])
    return result.exit_code, json.loads(result.stdout), result.stderr


@pytest.mark.parametrize(("args", "error"), [
    (("run", "--json", "--limit", "abc"), "Invalid value for '--limit': 'abc' is not a valid integer"),
    (("run", "--as-of", "2026-13-01", "--format", "json"), "'2026-13-01' is not a date like"),
    (("plan", "--format=json", "--bogus"), "No such option '--bogus'"),
])
def test_run_and_plan_print_their_report_with_the_usage_error(
        tmp_path: Path, args: tuple[str, ...], error: str) -> None:
    code, report, stderr = _invoke(tmp_path, *args)
    assert code == 2 and report["exit_code"] == 2 and report["outcome"] == "error"
    assert report["mode"] == args[0] and error in report["error"]
    assert error in stderr  # the message for a person is still there


def test_other_commands_print_the_error_object(tmp_path: Path) -> None:
    code, report, _ = _invoke(tmp_path, "history", "--json", "--bogus")
    assert code == 2 and report == {"ok": False, "exit_code": 2, "error": "No such option '--bogus'.",
                                    "problems": []}
