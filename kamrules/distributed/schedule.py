"""The periodic trigger: each minute, enqueue the tenants whose cron expression is due.

Several schedulers may run (for availability): the first to fire a tenant's minute enqueues it,
the others skip it; and a tenant already queued or running is not queued again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from kamrules.distributed.app import new_request_id, send_run
from kamrules.distributed.cron import Cron
from kamrules.distributed.shared import Shared
from kamrules.distributed.tenants import Tenants


def due(tenants: Tenants, at: datetime) -> list[str]:
    return [name for name, t in tenants.settings.tenants.items()
            if t.schedule and Cron(t.schedule).matches(at)]


def enqueue(app: Any, shared: Shared, tenant: str, mode: str = "run",
            as_of: str | None = None) -> tuple[str | None, str]:
    """(request id, what happened): queued, or skipped because a run is queued or running."""
    request_id = new_request_id()
    tenants: Tenants | None = getattr(app, "kamrules_tenants", None)
    stale = tenants.settings.queue_timeout_seconds if tenants else None
    if mode == "run" and not shared.claim_queue(tenant, request_id, stale_after=stale):
        return None, f"skipped: a run is already queued or running ({shared.queued(tenant)})"
    queue = shared_queue(app, tenant)
    try:
        send_run(app, tenant, request_id, mode, as_of, queue)
    except BaseException:
        if mode == "run":
            shared.unqueue(tenant, request_id)  # never sent: the next trigger may queue it
        raise
    return request_id, "queued" + (f" on {queue}" if queue else "")


def shared_queue(app: Any, tenant: str) -> str | None:
    """The tenant's own queue, if tenants.yaml pins it to one."""
    tenants: Tenants | None = getattr(app, "kamrules_tenants", None)
    return tenants.settings.tenants[tenant].queue if tenants and tenant in tenants.settings.tenants else None


def fire(app: Any, tenants: Tenants, shared: Shared, at: datetime) -> list[tuple[str, str]]:
    """Enqueue every tenant due at this minute that no other scheduler fired."""
    minute = at.strftime("%Y%m%d%H%M")
    done = []
    for name in due(tenants, at):
        if not shared.fire_once(name, minute):
            done.append((name, "skipped: another scheduler fired it"))
            continue
        done.append((name, enqueue(app, shared, name)[1]))
    return done


CATCH_UP = 60  # minutes a stalled scheduler fires late rather than skips


def loop(app: Any, tenants: Tenants, shared: Shared, report: Callable[[str, str], None],
         stop: Callable[[], bool] = lambda: False,
         clock: Callable[[], datetime] = lambda: datetime.now(UTC),
         sleep: Callable[[float], None] = time.sleep) -> None:
    """Fire at the start of every minute (UTC) until `stop()`. Minutes passed while this process
    was stalled (a slow Redis, a suspended VM) are fired late, up to an hour of them."""
    last: datetime | None = None
    while not stop():
        now = clock().replace(second=0, microsecond=0)
        first = now if last is None else max(last + timedelta(minutes=1), now - timedelta(minutes=CATCH_UP))
        minute = first
        while minute <= now:
            for name, what in fire(app, tenants, shared, minute):
                report(name, what)
            minute += timedelta(minutes=1)
        last = max(now, last or now)
        following = now + timedelta(minutes=1)
        sleep(max(0.0, (following - clock()).total_seconds()))
