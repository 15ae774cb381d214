"""Whether this process may start child processes by fork (run workers, play decisions)."""

from __future__ import annotations

import multiprocessing


def can_fork() -> bool:
    """Fork exists here, and this is not a daemonic process itself (a Celery prefork worker,
    `kamrules worker`, may not have children)."""
    return ("fork" in multiprocessing.get_all_start_methods()
            and not multiprocessing.current_process().daemon)
