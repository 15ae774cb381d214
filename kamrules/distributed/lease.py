"""One run per tenant across machines: a Redis lock with a lease and a fencing token.

Taking the lock draws the next token from a counter that only grows, and stores it as the
lock's value with a lease (PX). A thread renews the lease while the run lives. Before every
write batch the holder checks that the lock still holds its token: a worker that stalled past
its lease (a pause, a lost network) finds a newer token there and stops before writing.
Redis' own clock times the lease, so machines' clocks need not agree.
"""

from __future__ import annotations

import threading
from typing import Any

from kamrules.errors import CrmError, EnvironmentFailure

ACQUIRE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local token = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], token .. '|' .. ARGV[2], 'PX', ARGV[1])
return token
"""
RENEW = """
local v = redis.call('GET', KEYS[1])
if v and string.match(v, '^[0-9]+') == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
RELEASE = """
local v = redis.call('GET', KEYS[1])
if v and string.match(v, '^[0-9]+') == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class RedisValueDamaged(EnvironmentFailure):
    """A key kamrules keeps in Redis holds what it cannot use (exit 7): named, with what to do."""


class FencedOut(CrmError):
    """This worker no longer holds the tenant's lock: another run took over; nothing more is written."""


class Lease:
    def __init__(self, client: Any, key: str, seconds: float, holder: str):
        self.client, self.key, self.seconds, self.holder = client, key, seconds, holder
        self.token: int | None = None
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def acquire(self) -> bool:
        """Take the lock if it is free (no waiting); True with a fresh token if taken."""
        from redis.exceptions import ResponseError

        try:
            token = self.client.eval(ACQUIRE, 2, self.key, self.key + ":fence",
                                     int(self.seconds * 1000), self.holder)
        except ResponseError as exc:  # another program's value, a restore gone wrong
            raise RedisValueDamaged(f"{self.key}:fence, the tenant's fencing counter, is not a"
                                    f" number Redis can count on ({exc}); delete it (the count"
                                    " starts again) and queue the run again") from None
        if not token:
            return False
        self.token = int(token)
        self.lost.clear()
        self._stop.clear()
        self._thread = threading.Thread(target=self._renew, name="kamrules-lease", daemon=True)
        self._thread.start()
        return True

    def _renew(self) -> None:
        interval = self.seconds / 3
        while not self._stop.wait(interval):
            try:
                ok = self.client.eval(RENEW, 1, self.key, str(self.token), int(self.seconds * 1000))
            except Exception:  # noqa: BLE001 - Redis unreachable: the check before a write decides
                continue
            if not ok:
                self.lost.set()
                return

    def check(self) -> None:
        """Raise FencedOut unless the lock still holds this lease's token (before each write batch)."""
        value = self.client.get(self.key)
        if self.token is None or value is None or value.split("|", 1)[0] != str(self.token):
            self.lost.set()
            raise FencedOut(f"the lease on {self.key} expired and another run took over"
                            f" (token {self.token}, now {value.split('|', 1)[0] if value else 'none'});"
                            " stopped before writing")

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self.token is not None:
            self.client.eval(RELEASE, 1, self.key, str(self.token))
        self.token = None

    def holder_of(self) -> tuple[str, float] | None:
        """(holder, seconds left) of the lock now, or None."""
        value, ttl = self.client.get(self.key), self.client.pttl(self.key)
        return (value.split("|", 1)[1], max(ttl, 0) / 1000) if value else None

