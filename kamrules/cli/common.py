"""What every command shares: the consoles, option types, config and pack loading, progress."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from kamrules.inputs.sanitize import clipped, terminal_safe
from kamrules.language.loader import LoadedPack
from kamrules.run.config import LoadedConfig, describe_setup, load_config, load_configured_packs


class SafeConsole(Console):
    """A console that never passes escape codes, control characters or bidi overrides from
    the text it prints (CRM names reach every command's output); with `clip`, the messages'
    overlong values are shown by their start and end (`clipped`)."""

    def __init__(self, *args: Any, clip: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clip = clipped if clip else str

    def render_str(self, text: str, *args: Any, **kwargs: Any) -> Text:
        return super().render_str(terminal_safe(self._clip(text)), *args, **kwargs)

    def print(self, *objects: Any, **kwargs: Any) -> None:
        super().print(*(self._safe(o) if isinstance(o, Text) else o for o in objects), **kwargs)

    def _safe(self, text: Text) -> Text:
        short = self._clip(text.plain)
        return _safe_text(text if short == text.plain else Text(short, style=text.style, end=text.end))


def _safe_text(text: Text) -> Text:
    """A styled Text with its characters made safe, styles kept."""
    if terminal_safe(text.plain) == text.plain:
        return text
    cuts = sorted({i for span in text.spans for i in (span.start, span.end)})
    safe = Text(style=text.style, end=text.end)
    for piece in text.divide(cuts):
        part = Text(terminal_safe(piece.plain), style=piece.style)
        for span in piece.spans:
            part.stylize(span.style)
        safe.append_text(part)
    return safe


# No markup: CRM text such as a "[kamrules] ..." subject must print as it is; labels are styled
# through `labelled`.
out = SafeConsole(highlight=False, soft_wrap=True, markup=False)
err = SafeConsole(stderr=True, highlight=False, soft_wrap=True, markup=False, clip=True)


def labelled(label: str, style: str, message: str) -> Text:
    """`label message` with only the label styled (overlong values clipped: see `clipped`)."""
    return Text.assemble((label, style), " ", terminal_safe(clipped(message)))


def a_date(value: str, option: str | None = None) -> date:
    """A date given on the command line (YYYY-MM-DD) to `option`, named in the error."""
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date like 2026-11-23",
                                 param_hint=f"'{option}'" if option else None) from None


def as_of_date(value: str | None) -> date:
    """A run's date (`--as-of`; default today), within `kamrules.inputs.days.RUN_DAYS`."""
    from kamrules.inputs.days import run_day_problem

    if value is None:
        return date.today()
    day = a_date(value, "--as-of")
    problem = run_day_problem(day)
    if problem is not None:
        raise click.BadParameter(problem, param_hint="'--as-of'")
    return day



def loaded_config(ctx: click.Context) -> LoadedConfig:
    """The config (found once per command) and, first on stderr, which config and CRM it is."""
    obj = ctx.find_root().obj
    if "loaded" not in obj:
        obj["loaded"] = load_config(obj["config_path"])
        err.print(describe_setup(obj["loaded"]))
    return obj["loaded"]


def formats(*choices: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """`--format CHOICE` (first choice the default) and `--json` as its alias, passed on as `fmt`:
    one convention for every command."""

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(func)
        def wrapper(*args: Any, as_json: bool = False, **kwargs: Any) -> Any:
            if as_json:
                kwargs["fmt"] = "json"
            return func(*args, **kwargs)

        wrapper = click.option("--json", "as_json", is_flag=True,
                               help="The same as --format json.")(wrapper)
        return click.option("--format", "fmt", type=click.Choice(choices), default=choices[0],
                            show_default=True,
                            help="Output: text for people, json for programs.")(wrapper)

    return decorate


def _cell(value: Any) -> str:
    return " ".join(str(value if value is not None else "").split())


def print_table(columns: Sequence[str], rows: Sequence[Sequence[Any]], title: str | None = None,
                wrap: Sequence[str] = ()) -> None:
    """A table: boxed on a terminal (only the `wrap` columns wrap, between words, so names and
    ids are never split); plain TSV with a header line in a pipe or file."""
    if not out.is_terminal:
        click.echo("\t".join(columns))
        for row in rows:
            click.echo("\t".join(_cell(c) for c in row))
        return
    cells = [[_cell(c) for c in row] for row in rows]
    table = Table(title=title)
    for i, column in enumerate(columns):
        # a wrapping column is at least as wide as its longest word: it wraps between words
        longest = max((len(w) for row in cells for w in row[i].split()), default=0)
        table.add_column(column, no_wrap=column not in wrap,
                         min_width=max(longest, len(column)) if column in wrap else None)
    for row in cells:
        table.add_row(*row)
    out.print(table)


def packs_for(ctx: click.Context, refs: tuple[str, ...]) -> list[LoadedPack]:
    """The packs named on the command line (folders or built-in names), else the config's."""
    from kamrules.language.loader import load_packs, resolve_pack

    if refs:
        return load_packs([resolve_pack(ref, Path.cwd()) for ref in refs])
    return load_configured_packs(loaded_config(ctx))


@contextmanager
def progress_display(enabled: bool) -> Iterator[Callable[[str, int, int | None], None]]:
    """A progress bar on stderr when it is a terminal; silent otherwise.

    Drawn as the work reports, at most ten times a second, never by a thread of its own (rich's
    auto-refresh): a run forks its workers while the bar is up, and a process forked while
    another thread holds a lock (the console's, mid-refresh) hands the child that lock held."""
    if not enabled or not err.is_terminal:
        yield lambda step, done, total: None
        return
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn

    bars: dict[str, Any] = {}
    drawn = [0.0]
    with Progress(TextColumn("{task.description:<9}"), BarColumn(), TaskProgressColumn(),
                  console=err, transient=True, auto_refresh=False) as progress:
        def update(step: str, done: int, total: int | None) -> None:
            if step not in bars:
                bars[step] = progress.add_task(step, total=total)
            progress.update(bars[step], completed=done, total=total)
            if time.monotonic() - drawn[0] >= 0.1 or done == total:
                drawn[0] = time.monotonic()
                progress.refresh()

        yield update



AS_OF = click.option("--as-of", "as_of", metavar="DATE",
                     help="Evaluate as of this date (YYYY-MM-DD, 1900-01-01 to 2999-12-31)."
                          " Default: today.")
JSON = click.option("--json", "as_json", is_flag=True,  # old flag; commands use `formats`
                    help="Print the run report as JSON (counts and every task change).")


