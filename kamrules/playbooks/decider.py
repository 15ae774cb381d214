"""durable_rules' play decisions made in a child process that is replaced every RECYCLE
decisions, so the sessions they leave are freed (issue #18).

A decision is a durable_rules statechart session, ~200 KB that stays until the session is
deleted: 1.7 GB of a first run over 100,000 accounts. Deleting sessions (`delete_state`)
crashed the process (SIGSEGV inside durable_rules) in a full test run beside the rule engine,
as it had once before, so sessions are never deleted: a forked child makes the decisions
(asked over a pipe) and is replaced every RECYCLE decisions, and all its sessions go with it.
Where this process may not fork, and in a Celery worker (`kamrules worker` turns it off:
a child forked inside Celery's pool stalled the worker's runs), decisions are made in the
process itself (see `PlayChart._session`).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import threading
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

RECYCLE = 1000  # decisions per child: at most ~200 MB of sessions, and under durable's 1,024
# a decision in the process that has the rulesets: (ruleset, session id, state, event) -> action
Decide = Callable[[str, str, str, dict[str, Any]], "str | None"]


def _serve(conn: Connection, parents: Connection, decide: Decide) -> None:
    """The child: answer decisions until told to stop (None) or the parent goes.

    It keeps no descriptor of its parent's but its own end of the pipe: not the parent's end
    (the parent's exit would go unseen), nor a run's stdout (whoever reads the run's output
    would wait for the child), nor the sockets and pipes of a Celery worker it was forked from."""
    parents.close()
    keep = conn.fileno()
    null = os.open(os.devnull, os.O_RDWR)
    for std in (0, 1, 2):
        os.dup2(null, std)
    os.closerange(3, keep)
    os.closerange(keep + 1, max(keep + 1, os.sysconf("SC_OPEN_MAX")))
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
        except Exception as exc:  # reported to the parent, which raises it
            conn.send((False, f"{type(exc).__name__}: {exc}"))


class Decider:
    """One child at a time; a new one after RECYCLE decisions, after new rulesets were
    registered (`generation`: a child forked before lacks them), or when one ended."""

    def __init__(self, decide: Decide) -> None:
        self._decide = decide
        self._lock = threading.Lock()
        self._child: Any = None
        self._conn: Connection | None = None
        self._asked = 0
        self._born = -1
        self.generation = 0
        self.enabled = True  # False: decisions in the asking process (a Celery worker)
        self.started = 0  # children started so far (for tests and the benchmark)

    def ask(self, ruleset: str, state: str, event: dict[str, Any]) -> str | None:
        with self._lock:
            for attempt in (1, 2):
                if self._child is None or self._asked >= RECYCLE or self._born != self.generation:
                    self._restart()
                assert self._conn is not None
                try:
                    self._conn.send((ruleset, state, event))
                    ok, answer = self._conn.recv()
                except (EOFError, OSError) as exc:
                    self.stop()  # the child ended (killed, out of memory): once more with a new one
                    if attempt == 2:
                        raise RuntimeError(
                            "the process making play decisions ended twice in a row") from exc
                    continue
                self._asked += 1
                if not ok:
                    raise RuntimeError(f"durable_rules play decision failed: {answer}")
                return answer  # type: ignore[no-any-return]
        raise AssertionError("unreachable")

    def _restart(self) -> None:
        self.stop()
        context = multiprocessing.get_context("fork")
        mine, theirs = context.Pipe()
        child = context.Process(target=_serve, args=(theirs, mine, self._decide), daemon=True,
                                name="kamrules-play-decisions")
        child.start()
        theirs.close()
        self._child, self._conn, self._asked, self._born = child, mine, 0, self.generation
        self.started += 1

    def stop(self) -> None:
        """End the child (its sessions go with it)."""
        child, conn = self._child, self._conn
        self._child = self._conn = None
        if conn is not None:
            with contextlib.suppress(OSError):
                conn.send(None)
            conn.close()
        if child is not None:
            child.join(timeout=5)
            if child.is_alive():
                child.kill()
                child.join()
