"""Crash points for fault-injection tests: `KAMRULES_CRASH_AT=name[:n]` kills the process there.

The process dies with os._exit (no cleanup, like kill -9) at the n-th time (default 1st) the run
passes the named checkpoint. Unset, a checkpoint costs one dict lookup.
"""

from __future__ import annotations

import os
from collections import Counter

ENV = "KAMRULES_CRASH_AT"
CRASH_EXIT = 137
_seen: Counter[str] = Counter()


def checkpoint(name: str) -> None:
    target = os.environ.get(ENV)
    if not target:
        return
    point, _, nth = target.partition(":")
    if point != name:
        return
    _seen[name] += 1
    if _seen[name] >= int(nth or 1):
        os._exit(CRASH_EXIT)
