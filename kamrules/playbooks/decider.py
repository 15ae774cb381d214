"""durable_rules' play decisions made in a child process that is replaced every RECYCLE
decisions, so the sessions they leave are freed (issue #18).

A decision is a durable_rules statechart session, ~200 KB that stays until the session is
deleted: 1.7 GB of a first run over 100,000 accounts. Deleting sessions (`delete_state`)
crashed the process (SIGSEGV inside durable_rules) in a full test run beside the rule engine,
as it had once before, so sessions are never deleted: a child makes the decisions (asked over
a socket) and is replaced every RECYCLE decisions, and all its sessions go with it. The children
are forked by a small process forked early in the run, the zygote (zygote.py), not by the run's
process itself, whose size every fork would copy. Where this process may not fork, and in a
Celery worker (`kamrules worker` turns it off: a child forked inside Celery's pool stalled the
worker's runs), decisions are made in the process itself (see `PlayChart._session`).
"""

from __future__ import annotations

import contextlib
import os
import threading
import weakref
from multiprocessing.connection import Connection
from typing import Any

from kamrules.playbooks.zygote import Decide, Zygote
from kamrules.run.forking import can_fork

__all__ = ["RECYCLE", "Decide", "Decider"]

RECYCLE = 1000  # decisions per child: at most ~200 MB of sessions, and under durable's 1,024


class Decider:
    """One child at a time; a new one after RECYCLE decisions, after new rulesets were
    registered (`generation`: a child, or a zygote, forked before lacks them), or when one
    ended. A zygote that ended, or lacks the rulesets, is replaced the same way."""

    def __init__(self, decide: Decide) -> None:
        self._decide = decide
        self._lock = threading.Lock()
        self._zygote: Zygote | None = None
        self._conn: Connection | None = None
        self._asked = 0
        self._born = -1
        self.child_pid: int | None = None  # the decision child now asked (for tests)
        self.generation = 0
        self.enabled = True  # False: decisions in the asking process (a Celery worker)
        self.started = 0  # children started so far (for tests and the benchmark)
        _DECIDERS.add(self)

    @property
    def zygote_pid(self) -> int | None:
        return None if self._zygote is None else self._zygote.pid

    def prepare(self) -> None:
        """Fork the zygote now, while this process is small: a run calls this once its plays
        are compiled (their rulesets registered), before it evaluates chunks. Else the first
        `ask` forks it. Nothing where decisions are made in this process."""
        if not self.enabled or not can_fork():
            return
        with self._lock:
            if self._zygote is None or self._zygote.generation != self.generation:
                self._start_zygote()

    def ask(self, ruleset: str, state: str, event: dict[str, Any]) -> str | None:
        with self._lock:
            for attempt in (1, 2):
                if self._conn is None or self._asked >= RECYCLE or self._born != self.generation:
                    self._new_child()
                assert self._conn is not None
                try:
                    self._conn.send((ruleset, state, event))
                    ok, answer = self._conn.recv()
                except (EOFError, OSError) as exc:
                    self._end_child()  # the child ended (killed, out of memory): once more with a new one
                    if attempt == 2:
                        raise RuntimeError(
                            "the process making play decisions ended twice in a row") from exc
                    continue
                self._asked += 1
                if not ok:
                    raise RuntimeError(f"durable_rules play decision failed: {answer}")
                return answer  # type: ignore[no-any-return]
        raise AssertionError("unreachable")

    def _start_zygote(self) -> None:
        self._end_child()  # forked from the old zygote: it may lack rulesets
        self._stop_zygote()
        self._zygote = Zygote(self._decide, self.generation)

    def _new_child(self) -> None:
        self._end_child()
        for attempt in (1, 2):
            if self._zygote is None or self._zygote.generation != self.generation:
                self._start_zygote()
            assert self._zygote is not None
            try:
                self.child_pid, self._conn = self._zygote.fork()
                break
            except (EOFError, OSError) as exc:  # the zygote ended (killed): once more with a new one
                self._stop_zygote()
                if attempt == 2:
                    raise RuntimeError(
                        "the process forking play decision children ended twice in a row") from exc
        self._asked, self._born = 0, self.generation
        self.started += 1

    def _end_child(self) -> None:
        """Tell the child to end and let go of it (its sessions go with it; the zygote reaps it)."""
        conn, self._conn, self.child_pid = self._conn, None, None
        if conn is not None:
            with contextlib.suppress(OSError):
                conn.send(None)
            conn.close()

    def _stop_zygote(self) -> None:
        zygote, self._zygote = self._zygote, None
        if zygote is not None:
            zygote.stop()

    def stop(self) -> None:
        """End the child (its sessions go with it) and the zygote."""
        with self._lock:
            self._end_child()
            self._stop_zygote()

    def _forget(self) -> None:
        """In a process forked from this one (a run's worker, the zygote): close this process's
        connections, which are not its own. Held there, they would keep the zygote and the child
        alive after this process ended, and two processes asking on one would mix answers."""
        self._lock = threading.Lock()  # another thread may have held it at the fork
        if self._conn is not None:
            self._conn.close()
        if self._zygote is not None:
            self._zygote.forget()
        self._conn = self._zygote = self.child_pid = None


_DECIDERS: weakref.WeakSet[Decider] = weakref.WeakSet()


def _after_fork() -> None:
    for decider in list(_DECIDERS):
        decider._forget()  # noqa: SLF001


os.register_at_fork(after_in_child=_after_fork)
