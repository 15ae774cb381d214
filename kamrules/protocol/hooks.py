"""An optional hook the connectors' HTTP layers call around every CRM request.

By default it does nothing. A distributed worker installs one that waits for a slot in the
tenant's API budget shared through Redis, so several machines together stay within what one
CRM allows. The hook is process-wide (a worker runs one tenant per process at a time) and
never sees a request's content, only its kind.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol


class RequestHook(Protocol):
    def before(self, kind: str) -> None:
        """Called before a request is sent; may block until the budget allows it, or raise."""
        ...

    def after(self) -> None:
        """Called once the request has ended (answered or failed)."""
        ...


class NoHook:
    def before(self, kind: str) -> None:
        return None

    def after(self) -> None:
        return None


_current: list[RequestHook] = [NoHook()]


def request_hook() -> RequestHook:
    """The hook in force: the innermost `using_hook`, else one that does nothing."""
    return _current[-1]


@contextmanager
def using_hook(hook: RequestHook) -> Iterator[RequestHook]:
    _current.append(hook)
    try:
        yield hook
    finally:
        _current.remove(hook)
