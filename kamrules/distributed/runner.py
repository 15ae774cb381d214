"""What a worker does with one tenant: take its lease, run under its shared budget, record it.

A run is identified by its request id. A request that already finished does nothing (a message
the broker delivered twice); a tenant whose lease another worker holds is retried later (it
stays queued). Plans write nothing, so they take no lease.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from kamrules.distributed.budget import SharedBudget
from kamrules.distributed.fenced import fenced
from kamrules.distributed.lease import FencedOut, Lease
from kamrules.distributed.shared import Shared
from kamrules.distributed.split import ChunkBoard, glob_escape, split_run, work
from kamrules.distributed.tenants import Tenants
from kamrules.errors import KamError, Location, Problem, ValidationFailed
from kamrules.protocol.connector import Connector
from kamrules.protocol.hooks import NoHook, RequestHook, using_hook
from kamrules.run.config import LoadedConfig, load_config, load_configured_packs
from kamrules.run.snooze import load_snoozes
from kamrules.run.state import StateStore
from kamrules.run.sync import RunReport, now_iso, run

Opener = Callable[[LoadedConfig], Connector]


class Busy(Exception):
    """Another worker holds the tenant's lease: try again later."""


@dataclass
class Runtime:
    """A worker's view of the deployment: tenants, Redis, and how to open a tenant's CRM."""

    tenants: Tenants
    client: Any
    opener: Opener
    worker: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}")

    @property
    def shared(self) -> Shared:
        return Shared(self.client, self.tenants.settings.redis.prefix)

    def budget(self, name: str, loaded: LoadedConfig) -> RequestHook:
        """The tenant's shared API budget: tenants.yaml, else the CRM's own settings."""
        tenant, crm = self.tenants.get(name), loaded.config.crm
        requests, window = tenant.budget.requests, tenant.budget.window_seconds
        search = None
        if crm.get("type") == "hubspot":
            requests = requests or int(crm.get("requests_per_10s", 100))
            window = window or float(crm.get("rate_window_seconds", 10.0))
            search = (int(crm.get("search_per_second", 4)), window / 10.0)
        if requests is None and tenant.budget.daily is None:
            return NoHook()
        key = self.shared.key("budget", tenant.budget.key or name)
        return SharedBudget(self.client, key, requests or 10**9, window or 10.0,
                            tenant.budget.daily, search)


def execute(rt: Runtime, name: str, request_id: str, mode: str, day: str | None,
            ask_helpers: Callable[[str], None]) -> dict[str, Any]:
    """Run one tenant once; raises Busy when another worker holds its lease."""
    shared, settings = rt.shared, rt.tenants.settings
    if shared.is_done(request_id):
        return {"tenant": name, "request_id": request_id, "outcome": "duplicate"}
    from redis.exceptions import RedisError

    entry: dict[str, Any] = {"tenant": name, "request_id": request_id, "mode": mode,
                             "worker": rt.worker, "started": now_iso(), "as_of": day}
    lease = Lease(rt.client, shared.key("lock", name), settings.lease_seconds,
                  json.dumps({"worker": rt.worker, "request_id": request_id,
                              "started": entry["started"]}))
    try:
        as_of = message_day(rt, name, mode, day)
        entry["as_of"] = as_of.isoformat()
        if mode == "run" and not lease.acquire():
            raise Busy(name)
    except KamError as exc:  # a message this deployment cannot run, a damaged lock: said
        entry.update(finished=now_iso(), outcome="error", exit_code=int(exc.exit_code),
                     error=str(exc))
        shared.unqueue(name, request_id)  # only if it is this request's marker
        return _recorded(shared, name, entry)
    entry["t0"] = time.time()  # epoch seconds while holding the lease: runs never overlap
    try:
        report = _once(rt, name, request_id, mode, as_of, lease, entry, ask_helpers)
        entry.update(finished=report.finished, outcome=report.outcome, exit_code=report.exit_code,
                     accounts=report.accounts, findings=report.findings, counts=report.counts,
                     api_calls=report.api_calls, warnings=len(report.warnings))
    except FencedOut as exc:
        entry.update(finished=now_iso(), outcome="fenced", exit_code=int(exc.exit_code),
                     error=str(exc))
    except KamError as exc:
        entry.update(finished=now_iso(), outcome="error", exit_code=int(exc.exit_code),
                     error=str(exc))
    except RedisError as exc:  # Redis restarted or unreachable mid-run: exit 4, as in the CLI
        entry.update(finished=now_iso(), outcome="error", exit_code=4,
                     error=f"Redis failed: {type(exc).__name__}: {exc}")
    except Exception as exc:
        entry.update(finished=now_iso(), outcome="error", exit_code=5,
                     error=f"internal error: {type(exc).__name__}: {exc}")
        shared.record(name, {**entry, "t1": time.time()})
        raise
    finally:
        entry.setdefault("t1", time.time())
        if mode == "run":
            try:
                lease.release()
                shared.unqueue(name, request_id)
            except RedisError:  # Redis is gone: the lease runs out, the marker goes stale
                pass
    return _recorded(shared, name, entry)


def _recorded(shared: Shared, name: str, entry: dict[str, Any]) -> dict[str, Any]:
    """The entry, added to the tenant's history if Redis takes it (the task's result has it
    either way; a Redis gone mid-run raised from here, a traceback in the worker)."""
    from redis.exceptions import RedisError

    try:
        shared.record(name, entry)
    except RedisError as exc:
        entry["not_recorded"] = f"{type(exc).__name__}: {exc}"
    return entry


def message_day(rt: Runtime, name: str, mode: str, day: str | None) -> date:
    """The run's date, once the message is one this worker can run: its tenant in tenants.yaml
    as the worker read it, a mode it knows, a date `--as-of` would take (each was a traceback)."""
    from kamrules.inputs.days import run_day_problem

    known(rt, name)
    problem = None
    if mode not in ("run", "plan"):
        problem = f"a message asks for {mode!r}; a worker runs 'run' or 'plan'"
    elif day is None:
        return date.today()
    else:
        try:
            problem = run_day_problem(date.fromisoformat(day))
        except (TypeError, ValueError):
            problem = f"the message's date {day!r} is not a date"
    if problem is not None:
        raise ValidationFailed([Problem(Location(str(rt.tenants.file)), name, problem)])
    return date.fromisoformat(day)


def known(rt: Runtime, name: str) -> None:
    """Refuse a tenant not in tenants.yaml as this worker read it: a deployment sharing the
    prefix queued it, or the file changed since the worker started (it was a KeyError)."""
    if name not in rt.tenants.settings.tenants:
        raise ValidationFailed([Problem(Location(str(rt.tenants.file)), "tenants", (
            f"no tenant {name!r} here (worker {rt.worker}): another deployment uses the prefix"
            f" {rt.tenants.settings.redis.prefix!r}, or this file changed after the worker"
            " started (restart the workers after editing it)"))])


def _once(rt: Runtime, name: str, request_id: str, mode: str, as_of: date, lease: Lease,
          entry: dict[str, Any], ask_helpers: Callable[[str], None]) -> RunReport:
    """The run itself, under the tenant's budget; also kept in the tenant's own state_dir
    history (that machine's), as `kamrules run` keeps it, for `history` and `report`."""
    loaded = load_config(rt.tenants.config_path(name))
    packs = load_configured_packs(loaded)
    snoozes = load_snoozes(loaded.snoozes_path)
    store = StateStore(loaded.state_dir)
    run_id = store.start_run(now_iso(), as_of.isoformat(), mode)
    try:
        with using_hook(rt.budget(name, loaded)):
            connector = rt.opener(loaded)
            try:
                if mode == "plan":
                    report = run(connector, packs, loaded, as_of, True, snoozes=snoozes)
                elif split := rt.tenants.get(name).split_accounts:
                    entry["token"] = lease.token
                    board = split_board(rt, request_id, lease)
                    report = split_run(fenced(connector, lease.check), packs, loaded, as_of, board,
                                       lambda: ask_helpers(board.run_key), split, rt.worker,
                                       snoozes)
                    entry["chunks_by"] = board.evaluated_by
                else:
                    entry["token"] = lease.token
                    report = run(fenced(connector, lease.check), packs, loaded, as_of, False,
                                 snoozes=snoozes)
            finally:
                connector.close()
    except BaseException as exc:
        store.fail_run(run_id, now_iso(), f"{type(exc).__name__}: {exc}")
        store.close()
        raise
    store.finish_run(run_id, report)
    store.close()
    return report


def split_board(rt: Runtime, request_id: str, lease: Lease) -> ChunkBoard:
    """This attempt's chunk board, keyed by request and fencing token, after dropping the boards
    of earlier attempts of the request (a coordinator that died: its message came back). One
    shared board mixed the dead attempt's chunk numbers and findings into the new pull's."""
    prefix = rt.tenants.settings.redis.prefix
    board = ChunkBoard(rt.client, prefix, f"{request_id}.{lease.token}")
    board.cleanup(f"{prefix}:split:{glob_escape(request_id)}.*")
    return board


def help_split(rt: Runtime, name: str, request_id: str) -> dict[str, Any]:
    """Evaluate chunks of a split run another worker coordinates, until none is left (a helper
    that cannot load the tenant says why and leaves its chunks to the coordinator)."""
    try:
        known(rt, name)
        loaded = load_config(rt.tenants.config_path(name))
        packs = load_configured_packs(loaded)
    except KamError as exc:
        return {"tenant": name, "request_id": request_id, "chunks": 0, "error": str(exc)}
    board = ChunkBoard(rt.client, rt.tenants.settings.redis.prefix, request_id)
    lock = rt.shared.key("lock", name)
    done = work(board, packs, loaded, rt.worker, lambda: bool(rt.client.exists(lock)))
    return {"tenant": name, "request_id": request_id, "chunks": done, "worker": rt.worker}
