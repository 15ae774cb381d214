"""The cycle collector kept off what the run's process gathers from its workers (issue #18).

Merging the workers' results and the run's second half make millions of acyclic objects
(findings, plays' inputs, tasks, changes, report lines) that stay to the end of the run; each
was walked by the collector's young generations, over and over as the run grew: 8.4 s of the
run's process at 1,000,000 accounts, 0.5 s at 100,000. With the collector paused, what was made
is moved to the oldest generation without being walked (`gc.freeze` then `gc.unfreeze`) when
the pause ends. Cyclic garbage made meanwhile waits for a full collection: the run's process
makes little (rules and plays run in workers and the play decision child; where they run in
the process, e.g. one chunk, it is one chunk's worth). The pause is this process's only: a
process forked meanwhile (an evaluation worker, a text renderer) starts with its collector on,
for durable_rules leaves cycles in a worker.
"""

from __future__ import annotations

import contextlib
import gc
import os
from collections.abc import Iterator

_PAUSED = {"here": False}


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """The cycle collector off inside; what is alive at the end joins the oldest generation
    unwalked. Nothing is done where the collector is off already or something holds frozen
    objects (`gc.unfreeze` would release them too)."""
    if not gc.isenabled() or gc.get_freeze_count():
        yield
        return
    gc.disable()
    _PAUSED["here"] = True
    try:
        yield
    finally:
        _PAUSED["here"] = False
        gc.freeze()
        gc.unfreeze()
        gc.enable()


def _forked() -> None:
    if _PAUSED["here"]:  # forked inside the pause: the child's collector is on
        _PAUSED["here"] = False
        gc.enable()


os.register_at_fork(after_in_child=_forked)
