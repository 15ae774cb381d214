"""The distributed pieces against a real redis-server: the lease and its fencing token, write
batches stopped by a lost lease, the shared budget under threads, cron, and secrets kept out of
output."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from kamrules.connectors.local.crm import LocalCrm
from kamrules.distributed.budget import BudgetSpent, SharedBudget
from kamrules.distributed.cron import Cron
from kamrules.distributed.fenced import fenced
from kamrules.distributed.lease import FencedOut, Lease
from kamrules.model import Task
from kamrules.protocol.changes import Change
from tests import kamrules_process
from tests.conftest import ROOT
from tests.support.cluster import RedisServer, environment, free_port, redis_binary

# xdist: one redis-server for the module, on one worker
pytestmark = pytest.mark.xdist_group("distributed-parts")


@pytest.fixture(scope="module")
def redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


def test_a_stalled_holder_is_fenced_out_after_its_lease_runs_out(redis: RedisServer) -> None:
    client = redis.client()
    first = Lease(client, "t:lock:a", 0.3, "first")
    assert first.acquire()
    assert not Lease(client, "t:lock:a", 0.3, "second").acquire()  # held and renewed
    time.sleep(0.5)
    first.check()  # still ours: the renewer kept it
    first._stop.set()  # the holder stalls: no more renewals
    time.sleep(0.5)
    second = Lease(client, "t:lock:a", 0.3, "second")
    assert second.acquire() and second.token == first.token + 1  # type: ignore[operator]
    with pytest.raises(FencedOut):
        first.check()
    first.release()  # a late release leaves the new holder's lock alone
    second.check()
    second.release()
    assert client.get("t:lock:a") is None


def _creates(n: int) -> list[Change]:
    return [Change(action="create", fingerprint=f"p/r/a{i}",
                   task=Task(fingerprint=f"p/r/a{i}", account_id=f"a{i}", subject=f"s{i}", body="b"))
            for i in range(n)]


def test_writes_stop_at_the_batch_after_the_lease_is_lost(tmp_path: Path) -> None:
    crm = LocalCrm(tmp_path / "crm.sqlite")
    checks: list[int] = []

    def check() -> None:
        checks.append(1)
        if len(checks) == 3:
            raise FencedOut("taken over")

    with pytest.raises(FencedOut):
        fenced(crm, check, batch=100).apply(_creates(250))
    assert len(crm.all_tasks()) == 200  # two whole batches, nothing of the third
    crm.close()


def test_workers_sharing_a_budget_never_pass_it_together(redis: RedisServer) -> None:
    budget, window = 8, 0.4
    starts: list[float] = []
    ends: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        hook = SharedBudget(redis.client(), "t:budget:x", budget, window)
        for _ in range(12):
            hook.before("GET /x")
            with lock:
                starts.append(time.monotonic())
            time.sleep(0.005)
            with lock:
                ends.append(time.monotonic())
            hook.after()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    began = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # a request "arrives" somewhere between its start and end; count starts in every window
    worst = max(sum(1 for s in starts if t <= s < t + window) for t in starts)
    assert worst <= budget
    assert time.monotonic() - began >= (48 / budget - 1) * window  # they were held back


def test_the_daily_budget_stops_the_run(redis: RedisServer) -> None:
    hook = SharedBudget(redis.client(), "t:budget:daily", 100, 1.0, daily=3)
    for _ in range(3):
        hook.before("GET /x")
        hook.after()
    with pytest.raises(BudgetSpent):
        hook.before("GET /x")


@pytest.mark.parametrize(("expr", "at", "fires"), [
    ("0 2 * * *", "2026-11-30T02:00", True),
    ("0 2 * * *", "2026-11-30T02:01", False),
    ("*/15 8-18 * * 1-5", "2026-11-30T09:45", True),   # a Monday
    ("*/15 8-18 * * 1-5", "2026-11-29T09:45", False),  # a Sunday
    ("0 0 1 * 0", "2026-11-29T00:00", True),           # day 1 OR Sunday
    ("30 1 * * 7", "2026-11-29T01:30", True),          # 7 is Sunday too
])
def test_cron(expr: str, at: str, fires: bool) -> None:
    assert Cron(expr).matches(datetime.fromisoformat(at)) is fires


@pytest.mark.parametrize("expr", ["0 2 30 2 *", "0 2 31 4,6,9,11 *", "0 2 30-31 2 *"])
def test_a_schedule_that_never_fires_is_refused(expr: str) -> None:
    """February 30th parsed, and the tenant never ran."""
    with pytest.raises(ValueError, match="never fires: no month of it has such a day"):
        Cron(expr)


@pytest.mark.parametrize(("expr", "at"), [
    ("0 2 29 2 *", "2028-02-29T02:00"),   # in leap years
    ("0 2 31 1-2 *", "2027-01-31T02:00"),  # in January
    ("0 2 30 2 1", "2027-02-01T02:00"),   # or on Mondays of February
])
def test_a_schedule_that_fires_at_all_is_taken(expr: str, at: str) -> None:
    assert Cron(expr).matches(datetime.fromisoformat(at))


def test_the_redis_password_is_used_and_never_printed(tmp_path: Path) -> None:
    port, password = free_port(), "s3cret-redis-pw/+="
    proc = subprocess.Popen([redis_binary(), "--port", str(port), "--bind", "127.0.0.1",
                             "--save", "", "--requirepass", password], stdout=subprocess.DEVNULL)
    try:
        (tmp_path / "a.yaml").write_text("packs: [kam-core]\n")
        (tmp_path / "tenants.yaml").write_text(
            "redis: {password_env: KR_REDIS_PW}\ntenants:\n  a: {config: a.yaml}\n")
        env = environment(f"redis://127.0.0.1:{port}/0", {"KR_REDIS_PW": password})
        time.sleep(0.3)

        def cli(*args: str, **extra: Any) -> subprocess.CompletedProcess[str]:
            return kamrules_process.run(args, cwd=tmp_path, env={**env, **extra}, timeout=60)

        queued = cli("enqueue", "a")
        assert queued.returncode == 0, queued.stderr
        status = cli("status")
        assert status.returncode == 0 and "1 message(s) waiting" in status.stderr
        wrong = cli("status", KR_REDIS_PW="wrong-" + password)
        assert wrong.returncode == 4 and "Redis failed" in wrong.stderr
        for p in (queued, status, wrong):
            assert password not in p.stdout + p.stderr
            assert "s3cret" not in p.stdout + p.stderr
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_without_the_extra_the_commands_say_what_to_install(tmp_path: Path) -> None:
    shadow = tmp_path / "shadow"
    for name in ("celery", "redis"):
        (shadow / name).mkdir(parents=True)
        (shadow / name / "__init__.py").write_text("raise ImportError('not installed')\n")
    proc = subprocess.run([sys.executable, "-m", "kamrules", "worker"], cwd=tmp_path,
                          env={"PYTHONPATH": f"{shadow}:{ROOT}", "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "pip install 'kamrules[distributed]'" in proc.stderr


def test_a_worker_runs_a_tenant_over_tls(tmp_path: Path) -> None:
    from tests.support.cluster import start_worker, wait_for
    from tests.support.salesforce import make_cert

    cert, key = make_cert(tmp_path / "tls")
    port = free_port()
    proc = subprocess.Popen([redis_binary(), "--port", "0", "--tls-port", str(port), "--bind",
                             "127.0.0.1", "--save", "", "--tls-cert-file", str(cert),
                             "--tls-key-file", str(key), "--tls-auth-clients", "no"],
                            stdout=subprocess.DEVNULL)
    worker = None
    try:
        (tmp_path / "a").mkdir()
        (tmp_path / "a" / "kamrules.yaml").write_text(
            "crm: {type: local, path: crm.sqlite, seed: demo, demo_accounts: 30}\nstate_dir: state\n")
        (tmp_path / "tenants.yaml").write_text(
            f"redis: {{tls: {{ca_file: {cert}}}}}\ntenants:\n  a: {{config: a/kamrules.yaml}}\n")
        env = environment(f"rediss://127.0.0.1:{port}/0")
        worker = start_worker(tmp_path / "tenants.yaml", "tls", env)
        wait_for(worker.ready, 60, "worker ready over TLS")
        queued = kamrules_process.run(["enqueue", "a", "--tenants", "tenants.yaml"], cwd=tmp_path,
                                      env=env, timeout=60)
        assert queued.returncode == 0, queued.stderr

        import redis as redis_py

        client = redis_py.Redis.from_url(f"rediss://127.0.0.1:{port}/0", ssl_ca_certs=str(cert),
                                         decode_responses=True)
        entry = wait_for(lambda: client.lindex("kamrules:history:a", 0), 60, "the run")
        assert '"outcome": "ok"' in entry
        shown = kamrules_process.run(["history", "--tenant", "a", "--json"], cwd=tmp_path,
                                     env=env, timeout=60)
        assert shown.returncode == 0 and '"outcome": "ok"' in shown.stdout, shown.stderr
    finally:
        if worker is not None:
            worker.stop()
        proc.terminate()
        proc.wait(timeout=10)


def test_status_shows_queued_running_and_last_runs(redis: RedisServer, tmp_path: Path) -> None:
    import json

    from kamrules.distributed.shared import Shared

    (tmp_path / "a.yaml").write_text("packs: [kam-core]\n")
    (tmp_path / "tenants.yaml").write_text(
        "redis: {prefix: st}\ntenants:\n  a: {config: a.yaml}\n  b: {config: a.yaml}\n")
    client = redis.client()
    shared = Shared(client, "st")
    lease = Lease(client, "st:lock:a", 30, json.dumps({"worker": "w9@host", "request_id": "r1"}))
    assert lease.acquire()
    assert shared.claim_queue("a", "r1") and not shared.claim_queue("a", "r2")
    shared.record("b", {"request_id": "r0", "outcome": "ok", "finished": "2026-11-30T02:01:00",
                        "counts": {"created": 3}})
    try:
        proc = kamrules_process.run(["status", "--json", "--tenants", "tenants.yaml"],
                                    cwd=tmp_path, env=environment(redis.url), timeout=60)
    finally:
        lease.release()
    assert proc.returncode == 0, proc.stderr
    shown = {t["tenant"]: t for t in json.loads(proc.stdout)["tenants"]}
    assert shown["a"]["queued"] == "r1"
    assert shown["a"]["running"]["worker"] == "w9@host" and shown["a"]["running"]["token"] == 1
    assert shown["a"]["last"] is None
    assert shown["b"]["running"] is None and shown["b"]["last"]["counts"] == {"created": 3}
    assert shared.is_done("r0")


def test_damaged_history_and_lock_values_in_redis_are_shown_not_fatal(
        redis: RedisServer, tmp_path: Path) -> None:
    """Values in Redis another program (or a damaged restore) wrote: `status` shows the newest
    readable run and the lock's holder as text, `history --tenant` lists the damaged entries as
    unreadable; both were exit 5 (JSONDecodeError, AttributeError, ValueError)."""
    import json

    from kamrules.distributed.shared import Shared

    (tmp_path / "a.yaml").write_text("packs: [kam-core]\n")
    (tmp_path / "tenants.yaml").write_text("redis: {prefix: dm}\ntenants:\n  a: {config: a.yaml}\n")
    client = redis.client()
    Shared(client, "dm").record("a", {"request_id": "r0", "outcome": "ok", "finished": "2026-11-30",
                                      "counts": {"created": 3}})
    for damaged in ("garbage{", "[1, 2]", '{"counts": {"created": "x"}}',
                    '{"outcome": "ok", "counts": [1]}'):
        client.lpush("dm:history:a", damaged)
    client.set("dm:lock:a", "x7|[1]", px=30_000)
    env = environment(redis.url)
    status = kamrules_process.run(["status", "--json", "--tenants", "tenants.yaml"], cwd=tmp_path,
                                  env=env, timeout=60)
    assert status.returncode == 0, status.stderr
    shown = json.loads(status.stdout)["tenants"][0]
    assert shown["running"]["worker"] == "[1]" and shown["running"]["token"] is None
    # the newest entry is a run's record with unreadable counts: shown without them
    assert shown["last"] == {"outcome": "ok", "counts": None}
    listed = kamrules_process.run(["history", "--tenant", "a", "--json"], cwd=tmp_path,
                                  env={**env, "KAMRULES_TENANTS": "tenants.yaml"}, timeout=60)
    assert listed.returncode == 0, listed.stderr
    runs = json.loads(listed.stdout)
    assert [r["outcome"] for r in runs] == ["ok", "unreadable", "unreadable", "unreadable", "ok"]
    assert "garbage{" in runs[3]["error"] and runs[4]["counts"] == {"created": 3}


def test_a_lost_queued_run_does_not_block_its_tenant(redis: RedisServer) -> None:
    """A marker whose message was lost is replaced after `queue_timeout_seconds` unless a worker
    holds the tenant's lock; a send that fails leaves no marker behind."""
    from types import SimpleNamespace

    from kamrules.distributed.schedule import enqueue
    from kamrules.distributed.shared import Shared

    client = redis.client()
    shared = Shared(client, "lost")
    assert shared.claim_queue("a", "r1", stale_after=0.2)
    assert not shared.claim_queue("a", "r2", stale_after=0.2)  # queued a moment ago
    time.sleep(0.3)
    lease = Lease(client, "lost:lock:a", 30, "{}")
    assert lease.acquire()  # a worker runs it: not lost, however old
    assert not shared.claim_queue("a", "r3", stale_after=0.2)
    lease.release()
    assert shared.claim_queue("a", "r4", stale_after=0.2) and shared.queued("a") == "r4"
    assert not shared.claim_queue("a", "r5")  # without a timeout a marker holds until it expires
    for damaged in ("r6|nan", "r6|inf", "r6|-inf", "r6"):  # `nan` never grew old: blocked a day
        client.set("lost:pending:a", damaged)
        assert shared.claim_queue("a", "r7", stale_after=0.2) and shared.queued("a") == "r7"

    def broken_broker(*args: Any, **kwargs: Any) -> None:
        raise ConnectionError("broker down")

    app = SimpleNamespace(send_task=broken_broker)
    with pytest.raises(ConnectionError):
        enqueue(app, shared, "b")
    assert shared.queued("b") is None  # the next trigger may queue it


def test_the_schedule_loop_fires_each_due_minute_once_even_after_a_stall(
        redis: RedisServer, tmp_path: Path) -> None:
    """The loop itself (not `--once`), with the clock and sleep given: every minute once, the
    minutes of a three-minute stall fired late, a second loop at the same minutes firing none."""
    from datetime import UTC, timedelta
    from types import SimpleNamespace

    from kamrules.distributed.schedule import loop
    from kamrules.distributed.shared import Shared
    from kamrules.distributed.tenants import load_tenants

    (tmp_path / "a.yaml").write_text("packs: [kam-core]\n")
    (tmp_path / "tenants.yaml").write_text(
        "redis: {prefix: loop}\ntenants:\n  every: {config: a.yaml, schedule: '* * * * *'}\n"
        "  odd: {config: a.yaml, schedule: '1-59/2 * * * *'}\n")
    tenants = load_tenants(tmp_path / "tenants.yaml")
    sent: list[tuple[str, str]] = []

    def send_task(name: str, args: list[Any], queue: str | None = None) -> None:
        sent.append((args[0], args[1]))

    def scheduler() -> tuple[list[tuple[str, str]], Any]:
        shared = Shared(redis.client(), "loop")
        # each fired tenant's run finishes at once: the next minute may queue it again
        app = SimpleNamespace(send_task=lambda name, args, queue=None: (
            send_task(name, args, queue), shared.unqueue(args[0], args[1])),
            kamrules_tenants=tenants)
        now = [datetime(2026, 11, 30, 2, 0, 30, tzinfo=UTC)]
        woke = [0]

        def sleep(seconds: float) -> None:
            woke[0] += 1
            stall = 180 if woke[0] == 2 else 0  # the third wake-up comes three minutes late
            now[0] += timedelta(seconds=seconds + stall + 0.5)

        said: list[tuple[str, str]] = []
        loop(app, tenants, shared, lambda n, w: said.append((n, w)), stop=lambda: woke[0] >= 5,
             clock=lambda: now[0], sleep=sleep)
        return said, now[0]

    said, _ = scheduler()
    fired = [n for n, what in said if what.startswith("queued")]
    assert fired.count("every") == 8  # 02:00 to 02:07; 02:02-02:04 fired late, at 02:05
    assert fired.count("odd") == 4  # 02:01, 02:03, 02:05, 02:07
    assert len(sent) == 12
    again, _ = scheduler()  # a second scheduler over the same minutes
    assert again and all(what.startswith("skipped: another scheduler") for _, what in again)


def test_the_documented_tenants_file_validates(tmp_path: Path) -> None:
    import re

    from kamrules.distributed.tenants import load_tenants

    doc = (ROOT / "docs" / "scale.md").read_text()
    block = re.search(r"## tenants.yaml\n\n```yaml\n(.*?)```", doc, re.S)
    assert block is not None
    (tmp_path / "acme-eu").mkdir()
    (tmp_path / "acme-eu" / "kamrules.yaml").write_text("packs: [kam-core]\n")
    (tmp_path / "tenants.yaml").write_text(block.group(1))
    tenants = load_tenants(tmp_path / "tenants.yaml")
    tenant = tenants.get("acme-eu")
    assert tenant.split_accounts == 10000 and tenant.budget.key == "acme-portal"
    assert tenants.settings.redis.password_env == "KAMRULES_REDIS_PW"


def _runtime(root: Path, redis: RedisServer, prefix: str, split: int | None = None) -> Any:
    """A worker's runtime in this process, on one local demo tenant `t` (split if asked)."""
    import os

    from kamrules.cli.wiring import open_connector
    from kamrules.distributed.runner import Runtime
    from kamrules.distributed.tenants import load_tenants

    (root / "t").mkdir(parents=True)
    (root / "t" / "kamrules.yaml").write_text(
        "crm: {type: local, path: crm.sqlite, seed: demo, demo_accounts: 120}\nstate_dir: state\n")
    (root / "tenants.yaml").write_text(
        f"redis: {{prefix: {prefix}}}\ntenants:\n  t: {{config: t/kamrules.yaml"
        + (f", split_accounts: {split}" if split else "") + "}\n")
    os.environ.setdefault("KAMRULES_REDIS_URL", redis.url)
    return Runtime(load_tenants(root / "tenants.yaml"), redis.client(), open_connector, "w@test")


def test_messages_a_worker_cannot_run_are_recorded_not_raised(redis: RedisServer,
                                                              tmp_path: Path) -> None:
    """A run for a tenant not in this worker's tenants.yaml (another deployment on the prefix,
    a tenant added after the worker started), a date that is not a date, a mode no version
    sends: each is recorded as an error (exit 2) and its queued marker cleared; they were
    KeyError and ValueError tracebacks in the worker, the bad date with no history at all."""
    from kamrules.distributed.runner import execute, help_split

    rt = _runtime(tmp_path, redis, "msg")
    shared = rt.shared
    for tenant, request, mode, day, says in (
            ("gone", "r1", "run", None, "no tenant 'gone' here (worker w@test)"),
            ("t", "r2", "run", "2026-13-45", "'2026-13-45' is not a date"),
            ("t", "r3", "run", "9999-12-31", "outside the days a run may be as of"),
            ("t", "r4", "dry", None, "a message asks for 'dry'")):
        assert shared.claim_queue(tenant, request)
        entry = execute(rt, tenant, request, mode, day, lambda key: None)
        assert entry["outcome"] == "error" and entry["exit_code"] == 2, entry
        assert says in entry["error"] and "tenants.yaml" in entry["error"]
        assert shared.history(tenant)[0]["request_id"] == request
        assert shared.queued(tenant) is None  # the next trigger may queue it
    assert not (tmp_path / "t" / "crm.sqlite").exists()  # nothing ran
    helped = help_split(rt, "gone", "r1.1")
    assert helped["chunks"] == 0 and "no tenant 'gone'" in helped["error"]


def test_a_split_run_whose_chunk_left_redis_stops_before_writing(redis: RedisServer,
                                                                 tmp_path: Path) -> None:
    """A chunk evicted (maxmemory) or deleted before anyone evaluated it: the run ends with
    exit 4 naming the key, writes nothing and leaves no chunk in Redis (it was exit 5, a
    pydantic ValidationError, and the board stayed a day)."""
    from kamrules.connectors.local.crm import LocalCrm
    from kamrules.distributed.runner import execute

    rt = _runtime(tmp_path, redis, "lostc", split=20)
    client = rt.client
    entry = execute(rt, "t", "r1", "run", None,
                    lambda key: client.delete(f"lostc:split:{key}:chunk:0"))
    assert entry["outcome"] == "error" and entry["exit_code"] == 4, entry
    assert "chunk 0 of the split run left Redis (lostc:split:r1.1:chunk:0" in entry["error"]
    crm = LocalCrm(tmp_path / "t" / "crm.sqlite")
    assert crm.all_tasks() == []
    crm.close()
    assert list(client.scan_iter("lostc:split:*")) == []


def test_a_split_board_passes_over_what_no_worker_wrote(redis: RedisServer, tmp_path: Path) -> None:
    """Entries of another program in a split run's keys: a `todo` entry that is not a chunk
    number is passed over (it was a ValueError in every worker), a helper asked after the run
    ended does nothing (its context gone: a TypeError), findings of other JSON are named."""
    from kamrules.distributed.runner import execute, help_split
    from kamrules.distributed.split import ChunkBoard, SplitLost

    rt = _runtime(tmp_path, redis, "junk", split=20)
    client = rt.client
    asked: list[str] = []

    def helpers(key: str) -> None:
        asked.append(key)
        client.rpush(f"junk:split:{key}:todo", "x", "", "99")

    entry = execute(rt, "t", "r1", "run", None, helpers)
    assert entry["outcome"] == "ok" and entry["counts"]["created"] > 0, entry
    assert list(entry["chunks_by"]) == ["w@test"]
    assert help_split(rt, "t", asked[0])["chunks"] == 0  # late: the run is over
    board = ChunkBoard(client, "junk", "r2.1")
    client.set("junk:split:r2.1:result:0", "[1]")
    with pytest.raises(SplitLost, match=r"junk:split:r2.1:result:0 holds '\[1\]'"):
        board.result(0)


def test_a_split_run_whose_coordinator_died_runs_again_on_a_board_of_its_own(
        redis: RedisServer, tmp_path: Path) -> None:
    """The coordinator dies (like kill -9) after its pull, its chunks and their numbers left in
    Redis; the message comes back and the run is made again under the same request id. The new
    attempt's board is its own (request and fencing token) and the dead one's is dropped: one
    shared board took the dead attempt's chunk numbers as the new pull's (exit 5 when a number
    came twice; findings of the old pull could stand for chunks of the new one)."""
    from kamrules.connectors.local.crm import LocalCrm
    from kamrules.distributed.runner import execute

    rt = _runtime(tmp_path, redis, "died", split=20)
    script = ("import sys\nfrom pathlib import Path\n"
              "from kamrules.cli.wiring import open_connector\n"
              "from kamrules.distributed.connection import connect\n"
              "from kamrules.distributed.runner import Runtime, execute\n"
              "from kamrules.distributed.tenants import load_tenants\n"
              "t = load_tenants(Path(sys.argv[1]) / 'tenants.yaml')\n"
              "rt = Runtime(t, connect(t.settings.redis, t.base_dir), open_connector, 'dying')\n"
              "execute(rt, 't', 'r1', 'run', None, lambda key: None)\n")
    dead = subprocess.run([sys.executable, "-c", script, str(tmp_path)], cwd=ROOT,
                          env={**environment(redis.url), "KAMRULES_CRASH_AT": "pulled"},
                          capture_output=True, text=True, timeout=120)
    assert dead.returncode == 137, dead.stderr
    client = rt.client
    assert client.llen("died:split:r1.1:todo") > 1  # nobody evaluated its chunks
    client.delete("died:lock:t")  # its lease ran out
    entry = execute(rt, "t", "r1", "run", None, lambda key: None)
    assert entry["outcome"] == "ok" and entry["token"] == 2, entry
    assert list(client.scan_iter("died:split:*")) == []
    crm = LocalCrm(tmp_path / "t" / "crm.sqlite")
    assert len(crm.all_tasks()) == entry["counts"]["created"] > 0
    crm.close()



def test_damaged_counters_and_a_redis_gone_mid_run_are_recorded_errors(
        redis: RedisServer, tmp_path: Path) -> None:
    """A fencing counter that is not a number (a restore, another program), an API budget key of
    another type: exit 7 naming the key and what to do; a Redis that stops mid-run: exit 4
    "Redis failed" in the task's result, the run not raised (all were ResponseError or
    ConnectionError tracebacks, the fence's before any history, its queued marker left)."""
    from kamrules.distributed.lease import RedisValueDamaged
    from kamrules.distributed.runner import execute

    rt = _runtime(tmp_path / "fence", redis, "dmg")
    client = rt.client
    client.set("dmg:lock:t:fence", "seven")
    assert rt.shared.claim_queue("t", "r1")
    entry = execute(rt, "t", "r1", "run", None, lambda key: None)
    assert entry["outcome"] == "error" and entry["exit_code"] == 7, entry
    assert "dmg:lock:t:fence, the tenant's fencing counter, is not a number" in entry["error"]
    assert rt.shared.history("t")[0]["request_id"] == "r1" and rt.shared.queued("t") is None
    assert client.get("dmg:lock:t") is None

    client.set("dmg:budget:x", "text")
    with pytest.raises(RedisValueDamaged, match="the API budget dmg:budget:x"):
        SharedBudget(client, "dmg:budget:x", 10, 1.0).before("GET /x")

    own = RedisServer(tmp_path / "own").start()
    try:
        rt = _runtime(tmp_path / "gone", own, "gone", split=20)
        import redis as redis_py
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        # no reconnecting (redis-py's default backs off for seconds on every call once it is down)
        rt.client = redis_py.Redis(port=own.port, decode_responses=True, retry=Retry(NoBackoff(), 0))
        entry = execute(rt, "t", "r1", "run", None, lambda key: own.stop())
    finally:
        own.stop()
    assert entry["outcome"] == "error" and entry["exit_code"] == 4, entry
    assert entry["error"].startswith("Redis failed: ConnectionError") and entry["not_recorded"]
