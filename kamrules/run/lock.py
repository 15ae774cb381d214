"""One run at a time per CRM: an advisory file lock in the state directory.

flock is released by the kernel when its holder dies, so a lock left by a killed run is stale by
construction and simply taken over; the pid and start time written into the file let a waiting
run say who holds it, and say when it takes over after a run that did not finish.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import stat
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from kamrules.errors import EnvironmentFailure, LockedError
from kamrules.inputs.environment import failure


def lock_path(state_dir: Path, crm: dict[str, Any]) -> Path:
    """The lock file for one CRM: its type and location, never its secrets."""
    identity = {k: v for k, v in sorted(crm.items())
                if k in ("type", "path", "instance_url", "domain", "base_url", "username",
                         "portal_id")}
    digest = hashlib.sha256(json.dumps(identity, default=str).encode()).hexdigest()[:12]
    return state_dir / f"run-{digest}.lock"


HOLDER_CHARS = 4096


class RunLock:
    def __init__(self, path: Path, wait_seconds: float = 30.0, poll: float = 0.2):
        self.path = path
        self.wait_seconds = wait_seconds
        self.poll = poll
        self.handle: Any = None
        self.took_over: dict[str, Any] | None = None

    def __enter__(self) -> RunLock:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.handle = self.path.open("a+", encoding="utf-8", errors="replace")
        except OSError as exc:
            raise failure("lock file", self.path, exc) from None
        if not stat.S_ISREG(os.fstat(self.handle.fileno()).st_mode):  # a link to a device, a FIFO
            self.handle.close()
            raise EnvironmentFailure(f"lock file {self.path}: is not a regular file (a device or"
                                     " FIFO); remove it, kamrules makes a new one")
        deadline = time.monotonic() + self.wait_seconds
        while True:
            try:
                fcntl.flock(self.handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = self._holder()
                    self.handle.close()
                    who = (f"pid {holder.get('pid')}, started {holder.get('started')}"
                           if holder else "another process")
                    raise LockedError(
                        f"another kamrules run ({who}) is working on this CRM; waited"
                        f" {self.wait_seconds:g}s. Lock file: {self.path}") from None
                time.sleep(self.poll)
        self.took_over = self._holder() or None  # a holder left behind means it did not finish
        try:
            self.handle.seek(0)
            self.handle.truncate()
            self.handle.write(json.dumps({"pid": os.getpid(),
                                          "started": time.strftime("%Y-%m-%dT%H:%M:%S")}))
            self.handle.flush()
        except OSError as exc:
            self.handle.close()
            raise failure("lock file", self.path, exc) from None
        return self

    def _holder(self) -> dict[str, Any]:
        self.handle.seek(0)
        try:
            # a bounded read: a holder is ~60 bytes (a lock file linked to /dev/zero never ended)
            holder = json.loads(self.handle.read(HOLDER_CHARS) or "{}")
        except ValueError:
            return {}
        return holder if isinstance(holder, dict) else {}

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self.handle is not None:
            with contextlib.suppress(OSError):  # a full disk must not hide the run's result
                self.handle.seek(0)
                self.handle.truncate()
            fcntl.flock(self.handle, fcntl.LOCK_UN)
            self.handle.close()
