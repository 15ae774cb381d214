"""A CRM's API budget shared by every worker: a sliding window and a daily count in Redis.

Each request reserves a slot before it is sent, scored "in flight" until it ends, then scored
with its end time. A new request may start only while fewer than `requests` slots are in flight
or ended within the last `window` seconds. A request reaches the CRM between its start and its
end, so the CRM's own count of arrivals in any window never passes the budget, however many
workers share it. Redis' clock (TIME) is the only clock; a crashed worker's in-flight slot
counts until `stale_after` seconds have passed.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

from kamrules.distributed.lease import RedisValueDamaged
from kamrules.errors import CrmError

RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
local window, budget, stale = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) < budget then
  redis.call('ZADD', KEYS[1], now + stale, ARGV[4])
  redis.call('EXPIRE', KEYS[1], math.ceil(window + stale) + 1)
  if ARGV[5] ~= '' then
    local day = redis.call('INCR', KEYS[2])
    if day == 1 then redis.call('EXPIRE', KEYS[2], 172800) end
    if day > tonumber(ARGV[5]) then return -1 end
  end
  return 0
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local wait = tonumber(oldest[2]) + window - now
if wait > 0.05 then wait = 0.05 end
return tostring(math.max(wait, 0.001))
"""
FINISH = """
local t = redis.call('TIME')
redis.call('ZADD', KEYS[1], 'XX', tonumber(t[1]) + tonumber(t[2]) / 1e6, ARGV[1])
return 1
"""


class BudgetSpent(CrmError):
    """The tenant's daily API budget, shared by all workers, is spent: the run stops."""


class SharedBudget:
    """The request hook a worker installs for one tenant (see kamrules.protocol.hooks).

    `search` is a second, shorter window for search requests (HubSpot's per-second search
    limit), taken on top of the main one by requests whose kind ends in `/search`.
    """

    def __init__(self, client: Any, key: str, requests: int, window: float,
                 daily: int | None = None, search: tuple[int, float] | None = None,
                 stale_after: float = 120.0, sleep: Callable[[float], None] = time.sleep):
        self.client, self.key = client, key
        self.requests, self.window, self.daily, self.search = requests, window, daily, search
        self.stale_after, self.sleep = stale_after, sleep
        self.pending: list[list[tuple[str, str]]] = []
        self.waited = 0.0

    def before(self, kind: str) -> None:
        taken = [(self.key, self._reserve(self.key, self.requests, self.window, self.daily))]
        if self.search is not None and kind.endswith("/search"):
            key = self.key + ":search"
            taken.append((key, self._reserve(key, *self.search, None)))
        self.pending.append(taken)

    def _reserve(self, key: str, requests: int, window: float, daily: int | None) -> str:
        member = uuid.uuid4().hex
        day_key = f"{key}:day:{time.strftime('%Y-%m-%d', time.gmtime())}"
        from redis.exceptions import ResponseError

        while True:
            try:
                answer = self.client.eval(RESERVE, 2, key, day_key, window, requests,
                                          self.stale_after, member, daily or "")
            except ResponseError as exc:  # a key of another type, a day count that is text
                raise RedisValueDamaged(f"the API budget {key} (or its day count {day_key}) in"
                                        f" Redis is not kamrules' ({exc}); delete them and run"
                                        " again") from None
            if answer == 0 or answer == "0":
                return member
            if float(answer) < 0:
                self.client.eval(FINISH, 1, key, member)
                raise BudgetSpent(f"the daily API budget of {daily} calls for {key}"
                                  " is spent (counted across all workers); stopping the run")
            pause = float(answer)
            self.waited += pause
            self.sleep(pause)

    def after(self) -> None:
        if self.pending:
            for key, member in self.pending.pop(0):
                self.client.eval(FINISH, 1, key, member)
