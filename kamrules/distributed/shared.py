"""What every worker sees in Redis: queued markers, run history, and which requests are done.

The keys, all under the configured prefix:
`pending:TENANT` the request queued for a tenant (so a second trigger does not queue another),
`done:REQUEST` a request that finished (a redelivered message for it does nothing),
`history:TENANT` the tenant's runs, newest first, `fired:TENANT:MINUTE` a schedule that fired,
`lock:TENANT` the run lock (see lease.py), `budget:KEY` an API budget (see budget.py).
"""

from __future__ import annotations

import json
from typing import Any

HISTORY_KEEP = 1000
DAY = 86_400


class Shared:
    def __init__(self, client: Any, prefix: str = "kamrules"):
        self.client, self.prefix = client, prefix

    def key(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    # --- queueing ----------------------------------------------------------------------------

    def claim_queue(self, tenant: str, request_id: str, ttl: float = DAY) -> bool:
        """Mark a request queued for the tenant unless one is queued or running already."""
        return bool(self.client.set(self.key("pending", tenant), request_id, nx=True,
                                    ex=int(ttl)))

    def queued(self, tenant: str) -> str | None:
        return self.client.get(self.key("pending", tenant))

    def unqueue(self, tenant: str, request_id: str) -> None:
        key = self.key("pending", tenant)
        if self.client.get(key) == request_id:
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
        return [json.loads(e) for e in self.client.lrange(self.key("history", tenant), 0, limit - 1)]

    def lock_holder(self, tenant: str) -> dict[str, Any] | None:
        value = self.client.get(self.key("lock", tenant))
        if not value:
            return None
        token, _, holder = value.partition("|")
        ttl = self.client.pttl(self.key("lock", tenant))
        try:
            info = json.loads(holder)
        except ValueError:
            info = {"holder": holder}
        return {**info, "token": int(token), "lease_left": round(max(ttl, 0) / 1000, 1)}
