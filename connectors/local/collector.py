"""The cycle collector kept off the local CRM's records while they are built and used.

Records hold no reference cycles (reference counting frees them), so the collector has nothing
to find in them; yet it walks every live object it tracks, over and over, as other code makes
garbage. Two tools: pausing it while a chunk's records are built, and freezing a chunk while it
is used (see `Held`).
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def no_gc() -> Iterator[None]:
    """The cycle collector paused while records are built: a million new acyclic objects made
    it run over and over (measured: a whole pull of 20,000 accounts 8.5 s with it, 3.8 s without)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


# On (issue #18). It had been turned off because tests/test_pack_cases.py ..
# tests/test_play_idle_filter.py in one process crashed inside durable_rules (SIGSEGV in
# delete_state, called by playbooks/chart.py's _decide, or SIGABRT) in 2 of 2 runs with it on,
# 2 of 5 with it off: the crash came without freezing too (and at 22adc99, before freezing
# existed), and delete_state is no longer called (playbooks/decider.py). With it on at main
# 111f3ff that sequence passed in 9 runs of 9, and in 2 of 2 with every test run beside frozen
# objects. Measured with it on, `kamrules run --workers 2` over 100,000 accounts: the workers'
# CPU 19.1 -> 17.3 s, of which the collector 3.1 -> 1.3 s; peak RSS unchanged (within 10 MiB);
# the same findings and tasks (docs/local-store-reading.md).
FREEZE = True


class Held:
    """The cycle collector told to skip a chunk while it is used (`gc.freeze`), and to see it
    again (`gc.unfreeze`) before the next chunk is pulled or when the pull ends.

    Records hold no reference cycles (refcounting frees them), yet every collection of the
    consumer's garbage walked all of a chunk's objects again: at 100,000 accounts that cost as
    much as building them. Freezing moves every object then alive to the permanent generation,
    so it is used only when nothing else in the process has frozen objects (which `release`
    would unfreeze) and the collector is on."""

    def __init__(self) -> None:
        self.ours = FREEZE and gc.isenabled() and gc.get_freeze_count() == 0
        self.held = False

    def hold(self) -> None:
        if self.ours and gc.get_freeze_count() == 0:
            gc.freeze()
            self.held = True

    def release(self) -> None:
        if self.held:
            gc.unfreeze()
            self.held = False
            # the consumer's young garbage, collected now, before `hold` could freeze it: once
            # unfrozen it would wait in the oldest generation, which is rarely collected
            gc.collect(0)
