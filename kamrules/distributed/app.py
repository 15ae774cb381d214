"""The Celery app: Redis as broker and result backend, and the two tasks workers run.

Messages are acknowledged only after a task ends (`acks_late`) and given back when a worker
dies (`reject_on_worker_lost`, and Redis' visibility timeout for a whole machine that
vanished), so a crashed worker's tenant is run again by another; a rerun is exactly-once
because tasks are found in the CRM by fingerprint.
"""

from __future__ import annotations

import uuid
from typing import Any

from kamrules.distributed.connection import ssl_options
from kamrules.distributed.runner import Busy, Opener, Runtime, execute, help_split
from kamrules.distributed.tenants import Tenants

RUN_TASK = "kamrules.run_tenant"
HELP_TASK = "kamrules.help_split"


def make_app(tenants: Tenants, opener: Opener | None = None) -> Any:
    """The app for this deployment; `opener` (the CLI's) is needed only by workers."""
    from celery import Celery

    settings = tenants.settings
    url = tenants.redis_url()
    app = Celery("kamrules", broker=url, backend=url, set_as_current=False)
    timeout = settings.redis.visibility_timeout_seconds
    transport = {"visibility_timeout": timeout, "unacked_restore_throttle": 1,
                 "unacked_restore_interval": max(1, min(10, int(timeout / 4)))}
    ssl = ssl_options(settings.redis, tenants.base_dir, url)
    app.conf.update(
        task_acks_late=True, task_reject_on_worker_lost=True, worker_prefetch_multiplier=1,
        task_serializer="json", result_serializer="json", accept_content=["json"],
        broker_transport_options=transport, result_backend_transport_options=transport,
        result_expires=7 * 86_400, broker_connection_retry_on_startup=True,
        task_default_queue=settings.redis.prefix, worker_hijack_root_logger=False,
        broker_use_ssl=ssl, redis_backend_use_ssl=ssl,
    )
    app.kamrules_tenants = tenants
    if opener is not None:  # a worker: play decisions in its own processes (playbooks/decider.py)
        from kamrules.playbooks.chart import DECIDER

        DECIDER.enabled = False
    runtime: dict[str, Runtime] = {}

    def rt() -> Runtime:
        if "rt" not in runtime:
            if opener is None:
                raise RuntimeError("this process can enqueue but not run tenants")
            from kamrules.distributed.connection import connect

            runtime["rt"] = Runtime(tenants, connect(settings.redis, tenants.base_dir), opener)
        return runtime["rt"]

    @app.task(name=RUN_TASK, bind=True, max_retries=None)
    def run_tenant(self: Any, tenant: str, request_id: str, mode: str = "run",
                   as_of: str | None = None) -> dict[str, Any]:
        def ask_helpers(run_key: str) -> None:
            queue = tenants.settings.tenants[tenant].queue
            for _ in range(_others(app)):
                app.send_task(HELP_TASK, args=[tenant, run_key], queue=queue)

        runtime_ = rt()
        runtime_.worker = self.request.hostname or runtime_.worker
        try:
            return execute(runtime_, tenant, request_id, mode, as_of, ask_helpers)
        except Busy:
            raise self.retry(countdown=settings.lock_retry_seconds) from None

    @app.task(name=HELP_TASK, bind=True)
    def help_task(self: Any, tenant: str, run_key: str) -> dict[str, Any]:
        runtime_ = rt()
        runtime_.worker = self.request.hostname or runtime_.worker
        return help_split(runtime_, tenant, run_key)

    return app


def _others(app: Any) -> int:
    """How many helpers to ask: the workers that answer a ping (a busy solo worker does not)."""
    try:
        replies = app.control.ping(timeout=0.5) or []
    except Exception:  # noqa: BLE001 - no answer: ask one, it does no harm
        return 1
    return max(1, len(replies))


def new_request_id() -> str:
    return uuid.uuid4().hex


def send_run(app: Any, tenant: str, request_id: str, mode: str = "run",
             as_of: str | None = None, queue: str | None = None) -> Any:
    """Queue one run (or plan); `queue` pins it to the workers that consume that queue."""
    return app.send_task(RUN_TASK, args=[tenant, request_id, mode, as_of], queue=queue)
