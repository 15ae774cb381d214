"""A split connector's chunk plan, and the second part of the portfolio context, made in a
forked process while the run's own process reads the context's first part: passes over the CRM
file side by side instead of one after the other (issue #18; at 100,000 accounts the context
and the plan took 0.58 s one after the other, 0.33 s side by side; at a million the context
alone takes 4.5 s of the run's process).

What the child makes is what the connector makes (the same code, through a handle of its own on
the same file); wherever the child cannot make it (an error of any kind, no file, a child that
ended) it is made in the run's process, so its error, if any, is raised there exactly as
without the child.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import signal
from collections.abc import Callable
from datetime import date
from multiprocessing.connection import Connection
from typing import Any

from kamrules.evaluation.facts.view import ContextPart, Portfolio, context_part, portfolio_of
from kamrules.protocol.connector import ChunkPlan, ChunkReader, SplitConnector

# the run's process reads this share of the accounts for the context; the child the rest, after
# which it makes the plan (measured: the plan is a fifth of the context's time)
CONTEXT_SHARE = 0.55


def _make(source: SplitConnector, as_of: date, size: int, start: str | None,
          out: Connection) -> None:
    """In the child: the context's part from `start` (if any), then the plan, each sent as soon
    as made, through a read-only handle of its own (the forked connection is the parent's and
    must not be used here); None for what could not be made. A Ctrl-C is the run's: the run's
    process ends this child (`close`)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    reader = _made(source.reader)
    try:
        if start is not None:
            _send(out, reader and _made(lambda: part_of(reader, as_of, start, None)))
        _send(out, reader and _made(lambda: reader.chunk_plan(as_of, size)))
    finally:
        if reader is not None:
            reader.close()
        out.close()


def part_of(source: SplitConnector | ChunkReader, as_of: date, start: str | None,
            stop: str | None) -> ContextPart:
    """The portfolio context's part of the account keys from `start` to before `stop`, read
    through `source` (the connector, or the child's handle on its file)."""
    return context_part(source.pull_account_summaries(as_of, start, stop), as_of)


def _made(make: Callable[[], Any]) -> Any:
    """What `make` makes; None on any error (the run's process makes it again and meets it)."""
    try:
        return make()
    except Exception:  # noqa: BLE001
        return None


def _send(out: Connection, value: Any) -> None:
    with contextlib.suppress(OSError):  # the run's process is gone (killed): nobody to tell
        out.send(value)


class PlanAside:
    """`source.chunk_plan(as_of, size)`, and the context's part from the key `start` (None: no
    part), started in a forked child now; taken with `portfolio` (first) and `result`. `close` ends
    the child if the run did not take the plan (the run starts none for one chunk's accounts)."""

    def __init__(self, source: SplitConnector, as_of: date, size: int,
                 start: str | None = None) -> None:
        self.source, self.as_of, self.size, self.start = source, as_of, size, start
        self._part_pending = start is not None  # the child sends its part before the plan
        context = multiprocessing.get_context("fork")
        self._in, out = context.Pipe(duplex=False)
        self._child: Any = context.Process(target=_make, args=(source, as_of, size, start, out),
                                           name="kamrules-plan", daemon=True)
        self._child.start()
        out.close()

    def _receive(self) -> Any:
        try:
            return self._in.recv()
        except (EOFError, OSError):
            return None

    def portfolio(self) -> Portfolio:
        """The portfolio context: the part before `start` read here meanwhile, then the child's
        part from it (else, where it made none or died, read here too)."""
        mine = part_of(self.source, self.as_of, None, self.start)
        rest: ContextPart | None = self._receive() if self._part_pending else None
        self._part_pending = False
        return portfolio_of([mine, rest or part_of(self.source, self.as_of, self.start, None)])

    def result(self) -> ChunkPlan | None:
        """The plan: the child's, else (it made none, or died) made here."""
        if self._part_pending:  # the context's part, not taken: not the plan
            self._receive()
            self._part_pending = False
        plan = self._receive()
        self.close()
        return plan if plan is not None else self.source.chunk_plan(self.as_of, self.size)

    def close(self) -> None:
        if self._child.is_alive():
            self._child.terminate()
        self._child.join()
        self._in.close()
