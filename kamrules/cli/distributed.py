"""`kamrules worker`, `schedule`, `enqueue` and `status`: runs spread over machines.

They need `pip install 'kamrules[distributed]'` (celery, redis) and a tenants.yaml naming each
tenant's kamrules.yaml; the Redis URL comes from the environment and is never printed.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from kamrules.cli.common import AS_OF, as_of_date, err, formats, print_table
from kamrules.errors import CrmError, KamError

TENANTS = click.option("--tenants", "tenants_file", type=click.Path(path_type=Path),
                       help="The tenants file. Default: $KAMRULES_TENANTS, else ./tenants.yaml.")


class BrokerError(CrmError):
    """Redis (broker, locks, history) is unreachable or refused us: exit 4, like a CRM failure."""


def _guarded(command: Callable[..., Any]) -> Callable[..., Any]:
    """Redis and broker failures as one clear line (the URL without its password), exit 4."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except KamError:
            raise
        except Exception as exc:
            from kombu.exceptions import OperationalError
            from redis.exceptions import RedisError

            # BrokenPipeError is a ConnectionError: our output piped into `head`, not Redis
            if isinstance(exc, RedisError | OperationalError | ConnectionError) and not isinstance(
                    exc, BrokenPipeError):
                raise BrokerError(f"Redis failed: {type(exc).__name__}: {exc}") from None
            raise

    return wrapper


def _deployment(tenants_file: Path | None, worker: bool = False) -> tuple[Any, Any, Any]:
    """(tenants, Celery app, shared Redis state), or a clear error when the extra is missing."""
    try:
        import celery  # noqa: F401
        import redis  # noqa: F401
    except ImportError:
        raise KamError("distributed runs need celery and redis:"
                       " pip install 'kamrules[distributed]'") from None
    from kamrules.distributed.app import make_app
    from kamrules.distributed.connection import connect
    from kamrules.distributed.shared import Shared
    from kamrules.distributed.tenants import load_tenants, tenants_path

    tenants = load_tenants(tenants_path(tenants_file))
    opener = None
    if worker:
        from kamrules.cli.wiring import open_connector

        opener = open_connector
    app = make_app(tenants, opener)
    shared = Shared(connect(tenants.settings.redis, tenants.base_dir), tenants.settings.redis.prefix)
    return tenants, app, shared


@click.command("worker")
@TENANTS
@click.option("--concurrency", type=click.IntRange(1, 256), default=1, show_default=True,
              help="Tenants this worker runs at once (one process each).")
@click.option("--pool", type=click.Choice(["prefork", "solo"]), default="prefork",
              show_default=True, help="Celery's pool: prefork runs each tenant in a process of"
              " its own; solo runs one at a time in the worker process. (Not threads: the rule"
              " engine and the budget hook are per process.)")
@click.option("--hostname", default=None, help="The worker's name (default: celery's, NAME@host).")
@click.option("--loglevel", default="INFO", show_default=True)
@click.option("--queues", default=None, metavar="NAMES",
              help="Comma-separated queues to consume (default: the shared one, named by"
              " redis.prefix); list a tenant's `queue:` to pin it to this machine.")
@_guarded
def worker_cmd(tenants_file: Path | None, concurrency: int, pool: str, hostname: str | None,
               loglevel: str, queues: str | None) -> None:
    """Run tenants from the queue (a Celery worker; start one or more per machine)."""
    tenants, app, _ = _deployment(tenants_file, worker=True)
    argv = ["worker", f"--concurrency={concurrency}", f"--pool={pool}", f"--loglevel={loglevel}",
            "--without-gossip", "--without-mingle",
            f"--queues={queues or tenants.settings.redis.prefix}"]
    if hostname:
        argv.append(f"--hostname={hostname}")
    app.worker_main(argv)


def _utc_minute(value: str | None) -> datetime | None:
    """`--at` as a UTC time: an ISO time with a zone is converted, one without is UTC."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
        return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    except (ValueError, OverflowError):
        raise click.BadParameter(f"{value!r} is not a time like 2026-11-23T02:00",
                                 param_hint="'--at'") from None


@click.command("schedule")
@TENANTS
@click.option("--once", is_flag=True, help="Fire the tenants due this minute, then exit.")
@click.option("--at", "at", metavar="TIME", callback=lambda _c, _p, v: _utc_minute(v),
              help="With --once: the minute to fire (ISO; without a zone, UTC).")
@formats("text", "json")
@_guarded
def schedule_cmd(tenants_file: Path | None, once: bool, at: datetime | None, fmt: str) -> None:
    """Enqueue each tenant when its cron schedule is due (run one or more, anywhere)."""
    from kamrules.distributed.schedule import fire, loop

    tenants, app, shared = _deployment(tenants_file)

    def say(name: str, what: str) -> None:
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        if fmt == "json":  # one JSON object a line
            click.echo(json.dumps({"at": stamp, "tenant": name, "outcome": what}))
        else:
            click.echo(f"{stamp}\t{name}\t{what}")

    if once:
        when = at or datetime.now(UTC)
        for name, what in fire(app, tenants, shared, when.replace(second=0, microsecond=0)):
            say(name, what)
        return
    loop(app, tenants, shared, say)


@click.command("enqueue")
@TENANTS
@click.argument("names", nargs=-1, required=True, metavar="TENANT...")
@click.option("--plan", "plan", is_flag=True, help="Queue a plan (writes nothing) instead of a run.")
@AS_OF
@formats("text", "json")
@_guarded
def enqueue_cmd(tenants_file: Path | None, names: tuple[str, ...], plan: bool,
                as_of: str | None, fmt: str) -> None:
    """Queue one-off runs of the named tenants now."""
    from kamrules.distributed.schedule import enqueue

    tenants, app, shared = _deployment(tenants_file)
    for name in names:
        tenants.get(name)
    day = as_of_date(as_of).isoformat() if as_of else None
    done = []
    for name in names:
        request_id, what = enqueue(app, shared, name, "plan" if plan else "run", day)
        done.append({"tenant": name, "outcome": what, "request_id": request_id})
    if fmt == "json":
        click.echo(json.dumps(done, indent=2))
        return
    for d in done:
        click.echo(f"{d['tenant']}\t{d['outcome']}" + (f"\t{d['request_id']}" if d["request_id"] else ""))


@click.command("status")
@TENANTS
@formats("text", "json")
@_guarded
def status_cmd(tenants_file: Path | None, fmt: str) -> None:
    """Queued, running and last-finished runs of every tenant, across all workers."""
    tenants, _, shared = _deployment(tenants_file)
    rows = []
    for name in tenants.settings.tenants:
        rows.append({"tenant": name, "queued": shared.queued(name),
                     "running": shared.lock_holder(name), "last": shared.last_run(name)})
    waiting = shared.client.llen(tenants.settings.redis.prefix)
    if fmt == "json":
        click.echo(json.dumps({"messages_waiting": waiting, "tenants": rows}, indent=2))
        return
    err.print(f"{waiting} message(s) waiting in the queue")
    table = []
    for r in rows:
        running, last = r["running"], r["last"] or {}
        table.append((r["tenant"], "yes" if r["queued"] else "",
                      f"{running.get('worker', '?')} (lease {running['lease_left']}s)" if running else "",
                      last.get("finished", ""), last.get("outcome", ""), _counts(last)))
    print_table(("tenant", "queued", "running on", "last run", "outcome", "counts"), table,
                wrap=("counts",))


def _counts(entry: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v}" for k, v in (entry.get("counts") or {}).items() if v)


@_guarded
def tenant_history(name: str, limit: int, as_json: bool) -> None:
    """`kamrules history --tenant NAME`: the tenant's runs from the shared history."""
    tenants, _, shared = _deployment(None)
    tenants.get(name)
    runs = shared.history(name, limit)
    if as_json:
        click.echo(json.dumps(runs, indent=2))
        return
    print_table(("started", "as of", "mode", "worker", "outcome", "exit", "counts", "API calls"),
                [(r.get("started", ""), r.get("as_of", ""), r.get("mode", ""), r.get("worker", ""),
                  r.get("outcome", ""), r.get("exit_code", ""), _counts(r) or r.get("error", ""),
                  r.get("api_calls", "")) for r in runs], wrap=("counts",))
