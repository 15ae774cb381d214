"""What every worker sees in Redis: queued markers, run history, and which requests are done.

The keys, all under the configured prefix:
`pending:TENANT` the request queued for a tenant (so a second trigger does not queue another),
`done:REQUEST` a request that finished (a redelivered message for it does nothing),
`history:TENANT` the tenant's runs, newest first, `fired:TENANT:MINUTE` a schedule that fired,
`lock:TENANT` the run lock (see lease.py), `budget:KEY` an API budget (see budget.py).
"""

from __future__ import annotations

import json
import math
import time
from typing import Any

HISTORY_KEEP = 1000
DAY = 86_400
# compare-and-set: two schedulers seeing the same stale marker replace it once
REPLACE_IF_SAME = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
  return 1
end
return 0
"""


class Shared:
    def __init__(self, client: Any, prefix: str = "kamrules"):
        self.client, self.prefix = client, prefix

    def key(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    # --- queueing ----------------------------------------------------------------------------

    def claim_queue(self, tenant: str, request_id: str, ttl: float = DAY,
                    stale_after: float | None = None) -> bool:
        """Mark a request queued for the tenant unless one is queued or running already.

        A marker older than `stale_after` seconds while no worker holds the tenant's lock is
        a lost message (a broker restarted without persistence, a send that failed half-way):
        it is replaced, so one lost message does not block the tenant until the marker expires.
        """
        key, now = self.key("pending", tenant), time.time()
        value = f"{request_id}|{now:.3f}"
        if self.client.set(key, value, nx=True, ex=int(ttl)):
            return True
        old = self.client.get(key)
        if stale_after is None or old is None or self.client.exists(self.key("lock", tenant)):
            return False
        _, _, since = old.partition("|")
        try:
            age = now - float(since)
        except ValueError:
            age = float("inf")  # a marker of an older version: no time in it
        if not math.isfinite(age):  # `r1|nan` never grew old: the tenant stayed blocked
            age = float("inf")
        return age > stale_after and bool(self.client.eval(REPLACE_IF_SAME, 1, key, old, value,
                                                           int(ttl)))

    def queued(self, tenant: str) -> str | None:
        value = self.client.get(self.key("pending", tenant))
        return value.partition("|")[0] if value else None

    def unqueue(self, tenant: str, request_id: str) -> None:
        key = self.key("pending", tenant)
        if self.queued(tenant) == request_id:
            self.client.delete(key)

    def fire_once(self, tenant: str, minute: str) -> bool:
        """True for the first scheduler to fire this tenant's schedule at this minute."""
        return bool(self.client.set(self.key("fired", tenant, minute), "1", nx=True, ex=DAY))

    # --- runs --------------------------------------------------------------------------------

    def is_done(self, request_id: str) -> bool:
        return bool(self.client.exists(self.key("done", request_id)))

    def record(self, tenant: str, entry: dict[str, Any]) -> None:
        """Add a finished (or failed, or skipped) run to the tenant's history."""
        pipe = self.client.pipeline()
        pipe.lpush(self.key("history", tenant), json.dumps(entry, default=str))
        pipe.ltrim(self.key("history", tenant), 0, HISTORY_KEEP - 1)
        if entry.get("outcome") in ("ok", "partial") and entry.get("request_id"):
            pipe.set(self.key("done", entry["request_id"]), entry.get("finished", ""), ex=7 * DAY)
        pipe.execute()

    def history(self, tenant: str, limit: int = 20) -> list[dict[str, Any]]:
        """The tenant's runs, newest first; an entry that is not a run's record (a damaged value,
        another program's) is listed as `unreadable` rather than stopping the command."""
        return [run_entry(e) for e in self.client.lrange(self.key("history", tenant), 0, limit - 1)]

    def last_run(self, tenant: str) -> dict[str, Any] | None:
        """The newest readable run of the tenant among its last 20, if any."""
        readable = [e for e in self.history(tenant) if e.get("outcome") != UNREADABLE]
        return readable[0] if readable else None

    def lock_holder(self, tenant: str) -> dict[str, Any] | None:
        value = self.client.get(self.key("lock", tenant))
        if not value:
            return None
        token, _, holder = value.partition("|")
        ttl = self.client.pttl(self.key("lock", tenant))
        try:
            info = json.loads(holder)
        except ValueError:
            info = None
        if not isinstance(info, dict):  # an older version's holder, or not ours: shown as text
            info = {"worker": holder}
        return {**info, "token": int(token) if token.isdecimal() else None,
                "lease_left": round(max(ttl, 0) / 1000, 1)}


UNREADABLE = "unreadable"


def run_entry(raw: str) -> dict[str, Any]:
    """One history entry as a run's record: a JSON object with an `outcome` (and `counts`, if
    any, mapping names to numbers); anything else is `{"outcome": "unreadable", "error": ...}`."""
    try:
        entry = json.loads(raw)
    except ValueError:
        entry = None
    if not isinstance(entry, dict) or not isinstance(entry.get("outcome"), str):
        return {"outcome": UNREADABLE, "error": f"not a run's record: {raw[:60]!r}"}
    counts = entry.get("counts")
    if counts is not None and not (isinstance(counts, dict) and all(
            type(v) is int for v in counts.values())):
        entry["counts"] = None
    return entry
