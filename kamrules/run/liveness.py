"""Whether the process that started a run still runs, for the run history.

A run's row keeps its pid and where it ran: the machine (its host name and, on Linux, its boot),
and the process's start time (Linux). A state folder shared by workers on several machines (what
docs/scale.md advises for incremental pulls) holds runs of other machines, whose processes
cannot be looked at from here: they were shown `interrupted` while they ran. A pid from before
a restart, or taken by another process since, is not the run's.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
from pathlib import Path
from typing import Any


def this_process() -> str:
    """Where and which this process is, as the runs table keeps it (`runner`)."""
    return json.dumps({"host": socket.gethostname(), "boot": _boot(), "start": _started(os.getpid())})


def still_running(pid: Any, runner: Any) -> bool:
    """Whether the run whose row keeps `pid` and `runner` (None in rows of before) may still
    run: its process is alive here, or it ran on another machine (which cannot be asked)."""
    seen: dict[str, Any] = {}
    if isinstance(runner, str):
        with contextlib.suppress(ValueError):
            loaded = json.loads(runner)
            seen = loaded if isinstance(loaded, dict) else {}
    if seen.get("host", socket.gethostname()) != socket.gethostname():
        return True
    if seen.get("boot") is not None and seen["boot"] != _boot():
        return False  # this machine restarted since
    if not _alive(pid):
        return False
    return seen.get("start") is None or seen["start"] == _started(pid)  # else: a pid reused


def _alive(pid: Any) -> bool:
    if not isinstance(pid, int) or not 0 < pid < 2**31:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _boot() -> str | None:
    """This boot of the machine (Linux), else None."""
    with contextlib.suppress(OSError):
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip() or None
    return None


def _started(pid: int) -> int | None:
    """When process `pid` started, in clock ticks since the boot (Linux), else None."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        return int(stat[stat.rindex(")") + 2:].split()[19])  # field 22, after the name
    return None
