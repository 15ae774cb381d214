"""The zygote: a small process, forked early in a run, that forks each play decision child
(decider.py), so that a child is a copy of the small process and not of the run's (issue #18).

Forking the run's process itself cost 47 s of system time at 1,000,000 accounts: ~80 forks of a
~5 GB process, each copying its page tables and then its pages as either side wrote them. The
zygote is forked once, while the run is small (after the plays' rulesets are registered, before
chunks are evaluated). Asked over its control socket, it makes a socket pair, forks a child that
serves decisions on one end, and passes the other end to the asker (SCM_RIGHTS). It keeps no
copy of either end, so the asker sees EOF when a child dies, and ends on EOF of its control
socket: it never outlives the process that started it, and neither does a child.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import signal
import socket
import struct
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any, NoReturn

# a decision in the process that has the rulesets: (ruleset, session id, state, event) -> action
Decide = Callable[[str, str, str, dict[str, Any]], "str | None"]
_PID = struct.Struct("i")
ANSWER_SECONDS = 60.0  # a zygote that does not hand over a child in this time is replaced


def alone(keep: int) -> None:
    """Hold no descriptor but `keep`; stdio on /dev/null. Not the asker's end of a pipe (its
    exit would go unseen), nor a run's stdout (whoever reads the run's output would wait for
    this process), nor the sockets and pipes of a Celery worker."""
    null = os.open(os.devnull, os.O_RDWR)
    for std in (0, 1, 2):
        os.dup2(null, std)
    os.closerange(3, keep)
    os.closerange(keep + 1, max(keep + 1, os.sysconf("SC_OPEN_MAX")))


def serve(conn: Connection, decide: Decide) -> None:
    """A decision child: answer decisions until told to stop (None) or the asker goes."""
    asked = 0
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            return
        if request is None:
            return
        asked += 1
        ruleset, state, event = request
        try:
            conn.send((True, decide(ruleset, f"d{asked}", state, event)))
        except Exception as exc:  # reported to the asker, which raises it
            conn.send((False, f"{type(exc).__name__}: {exc}"))


def _child(end: socket.socket, decide: Decide) -> NoReturn:
    """In a child forked by the zygote: serve on `end`, then exit without Python's cleanup."""
    code = 1
    try:
        conn = Connection(end.detach())
        alone(conn.fileno())  # also closes the zygote's control socket
        serve(conn, decide)
        code = 0
    finally:
        os._exit(code)


def _reap(until: float = 0.0) -> None:
    """Collect exited children (so the asker's rusage counts them); wait for them until `until`."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            if time.monotonic() >= until:
                return
            time.sleep(0.01)


def _zygote(control: socket.socket, askers: socket.socket, decide: Decide) -> None:
    """The zygote's loop: one child per byte read on `control`, until EOF (the asker is gone)."""
    askers.close()
    alone(control.fileno())
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C is the run's (its children inherit this)
    gc.freeze()  # a child's collections leave what it inherits alone: fewer pages copied
    while True:
        try:
            asked = control.recv(1)
        except OSError:
            asked = b""
        if not asked:
            _reap(time.monotonic() + 5)  # the children saw EOF too, or were told to stop
            return
        _reap()
        mine, theirs = socket.socketpair()
        pid = os.fork()
        if pid == 0:
            control.close()
            mine.close()
            _child(theirs, decide)
        theirs.close()
        try:
            socket.send_fds(control, [_PID.pack(pid)], [mine.fileno()])
        except OSError:
            return
        finally:
            mine.close()


class Zygote:
    """The asking side: the zygote process (forked from this one now) and its control socket."""

    def __init__(self, decide: Decide, generation: int) -> None:
        self.generation = generation  # the rulesets it (and every child of it) has
        mine, theirs = socket.socketpair()
        self.process = multiprocessing.get_context("fork").Process(
            target=_zygote, args=(theirs, mine, decide), daemon=True, name="kamrules-play-zygote")
        self.process.start()
        theirs.close()
        mine.settimeout(ANSWER_SECONDS)
        self.control = mine

    @property
    def pid(self) -> int:
        assert self.process.pid is not None
        return self.process.pid

    def fork(self) -> tuple[int, Connection]:
        """A new decision child: its pid and a connection to it. OSError or EOFError: the
        zygote has ended (or does not answer)."""
        self.control.sendall(b"f")
        data, fds, _flags, _addr = socket.recv_fds(self.control, _PID.size, 1)
        if len(data) != _PID.size or len(fds) != 1:
            for fd in fds:
                os.close(fd)
            raise EOFError("the process forking play decision children ended")
        os.set_inheritable(fds[0], False)  # as every descriptor Python opens: not across exec
        return _PID.unpack(data)[0], Connection(fds[0])

    def stop(self) -> None:
        """End the zygote (EOF on its control socket); its children end on their own EOF."""
        self.control.close()
        self.process.join(timeout=10)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()

    def forget(self) -> None:
        """In a process forked from the asker: close the asker's control socket, nothing else."""
        self.control.close()
