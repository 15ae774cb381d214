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


class _Lane:
    """One asking thread's decision child: its connection, pid and how often it was asked."""

    def __init__(self) -> None:
        self.thread = threading.current_thread()
        self.lock = threading.Lock()  # held while its thread asks
        self.conn: Connection | None = None
        self.pid: int | None = None
        self.zygote: Zygote | None = None  # the one that forked its child
        self.asked = 0
        self.born = -1

    def end(self) -> None:
        """Tell the child to end and let go of it (its sessions go with it; the zygote reaps it)."""
        conn, self.conn, self.pid = self.conn, None, None
        if conn is not None:
            with contextlib.suppress(OSError):
                conn.send(None)
            conn.close()


class Decider:
    """One child per asking thread (a lane; `Plays.advance` asks from two threads at once, so
    two children decide in parallel); a lane's child is replaced after RECYCLE decisions, after
    new rulesets were registered (`generation`: a child, or a zygote, forked before lacks
    them), or when one ended. A zygote that ended, or lacks the rulesets, is replaced the same
    way; children are forked by one zygote, one fork at a time."""

    def __init__(self, decide: Decide) -> None:
        self._decide = decide
        self._lock = threading.Lock()  # the zygote, the lanes' registry and `started`
        self._zygote: Zygote | None = None
        self._local = threading.local()
        self._lanes: list[_Lane] = []
        self._retired: list[Zygote] = []  # replaced while a child of theirs was being asked
        self.generation = 0
        self.enabled = True  # False: decisions in the asking process (a Celery worker)
        self.started = 0  # children started so far (for tests and the benchmark)
        _DECIDERS.add(self)

    @property
    def zygote_pid(self) -> int | None:
        return None if self._zygote is None else self._zygote.pid

    @property
    def child_pid(self) -> int | None:
        """The decision child this thread asks (for tests)."""
        lane = getattr(self._local, "lane", None)
        return None if lane is None else lane.pid

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
        lane = self._lane()
        with lane.lock:
            return self._ask(lane, ruleset, state, event)

    def _ask(self, lane: _Lane, ruleset: str, state: str, event: dict[str, Any]) -> str | None:
        for attempt in (1, 2):
            if lane.conn is None or lane.asked >= RECYCLE or lane.born != self.generation:
                self._new_child(lane)
            assert lane.conn is not None
            try:
                lane.conn.send((ruleset, state, event))
                ok, answer = lane.conn.recv()
            except (EOFError, OSError) as exc:
                lane.end()  # the child ended (killed, out of memory): once more with a new one
                if attempt == 2:
                    raise RuntimeError(
                        "the process making play decisions ended twice in a row") from exc
                continue
            lane.asked += 1
            if not ok:
                raise RuntimeError(f"durable_rules play decision failed: {answer}")
            return answer  # type: ignore[no-any-return]
        raise AssertionError("unreachable")

    def _lane(self) -> _Lane:
        lane: _Lane | None = getattr(self._local, "lane", None)
        if lane is None:
            lane = self._local.lane = _Lane()
            with self._lock:
                self._lanes.append(lane)
        return lane

    def end_lanes_of_ended_threads(self) -> None:
        """End the children of threads that have ended (a pool's, once its work is done)."""
        with self._lock:
            done = [lane for lane in self._lanes if not lane.thread.is_alive()]
            self._lanes = [lane for lane in self._lanes if lane.thread.is_alive()]
        for lane in done:
            lane.end()

    def _start_zygote(self) -> None:
        """A new zygote (under `_lock`). The old one's children that are not being asked end
        now; one being asked (another thread's) is replaced when next asked (`born`), and the
        old zygote is then left to end without waiting for it."""
        old = self._zygote
        for lane in self._lanes:
            if lane.zygote is old and lane.lock.acquire(blocking=False):
                try:
                    lane.end()
                finally:
                    lane.lock.release()
        if any(lane.conn is not None and lane.zygote is old for lane in self._lanes):
            assert old is not None
            old.control.close()  # it ends once its children have (see zygote.py)
            self._retired.append(old)
            self._zygote = None
        else:
            self._stop_zygote()
        self._zygote = Zygote(self._decide, self.generation)

    def _new_child(self, lane: _Lane) -> None:
        lane.end()
        with self._lock:
            for attempt in (1, 2):
                if self._zygote is None or self._zygote.generation != self.generation:
                    self._start_zygote()
                assert self._zygote is not None
                try:
                    lane.pid, lane.conn = self._zygote.fork()
                    lane.zygote = self._zygote
                    break
                except (EOFError, OSError) as exc:  # the zygote ended (killed): once more with a new one
                    self._stop_zygote()
                    if attempt == 2:
                        raise RuntimeError(
                            "the process forking play decision children ended twice in a row") from exc
            lane.asked, lane.born = 0, self.generation
            self.started += 1

    def _stop_zygote(self) -> None:
        zygote, self._zygote = self._zygote, None
        if zygote is not None:
            zygote.stop()

    def stop(self) -> None:
        """End every child (their sessions go with them) and the zygote."""
        with self._lock:
            for lane in self._lanes:
                lane.end()
            self._stop_zygote()
            retired, self._retired = self._retired, []
        for zygote in retired:
            zygote.stop()

    def _forget(self) -> None:
        """In a process forked from this one (a run's worker, the zygote): close this process's
        connections, which are not its own. Held there, they would keep the zygote and the
        children alive after this process ended, and two processes asking on one would mix
        answers."""
        self._lock = threading.Lock()  # another thread may have held it at the fork
        for lane in self._lanes:
            if lane.conn is not None:
                lane.conn.close()
        if self._zygote is not None:
            self._zygote.forget()
        for zygote in self._retired:
            zygote.forget()
        self._local = threading.local()
        self._lanes, self._zygote, self._retired = [], None, []


_DECIDERS: weakref.WeakSet[Decider] = weakref.WeakSet()


def _after_fork() -> None:
    for decider in list(_DECIDERS):
        decider._forget()  # noqa: SLF001


os.register_at_fork(after_in_child=_after_fork)
