"""A split connector's chunk plan made in a forked process while the run's own process reads
the portfolio context: two passes over the CRM file side by side instead of one after the other
(0.3 s each at 100,000 accounts, measured: 0.58 s -> 0.33 s for both).

The plan made aside is the plan the connector makes (the same code, through a handle of its own
on the same file); wherever the child cannot make it (an error of any kind, no file) the plan is
made in the run's process, so its error, if any, is raised there exactly as without the child.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import signal
from datetime import date
from multiprocessing.connection import Connection
from typing import Any

from kamrules.protocol.connector import ChunkPlan, SplitConnector


def _make(source: SplitConnector, as_of: date, size: int, out: Connection) -> None:
    """In the child: the plan through a read-only handle of its own (the forked connection is
    the parent's and must not be used here), sent back; None where it could not be made.
    A Ctrl-C is the run's: the run's process ends this child (`close`)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    plan: ChunkPlan | None = None
    try:
        reader = source.reader()
        try:
            plan = reader.chunk_plan(as_of, size)
        finally:
            reader.close()
    except Exception:  # noqa: BLE001 - the parent makes the plan itself and raises it there
        plan = None
    with contextlib.suppress(OSError):  # the run's process is gone (killed): nobody to tell
        out.send(plan)
    out.close()


class PlanAside:
    """`source.chunk_plan(as_of, size)`, started in a forked child now, taken with `result`;
    `close` ends the child if the run did not need the plan (a portfolio of one chunk)."""

    def __init__(self, source: SplitConnector, as_of: date, size: int) -> None:
        self.source, self.as_of, self.size = source, as_of, size
        context = multiprocessing.get_context("fork")
        self._in, out = context.Pipe(duplex=False)
        self._child: Any = context.Process(target=_make, args=(source, as_of, size, out),
                                           name="kamrules-plan", daemon=True)
        self._child.start()
        out.close()

    def result(self) -> ChunkPlan | None:
        """The plan: the child's, else (it made none, or died) made here."""
        try:
            plan = self._in.recv()
        except (EOFError, OSError):
            plan = None
        self.close()
        return plan if plan is not None else self.source.chunk_plan(self.as_of, self.size)

    def close(self) -> None:
        if self._child.is_alive():
            self._child.terminate()
        self._child.join()
        self._in.close()
