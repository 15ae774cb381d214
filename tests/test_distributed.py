"""Distributed runs with a real redis-server and real Celery workers (`kamrules worker`) in
subprocesses, against the local CRM and the fake Salesforce and HubSpot servers.

One deployment serves the module: its tenants.yaml names every tenant the tests use, and two
workers start once; the crash test has a deployment of its own (its own queue prefix).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from kamrules.connectors.local.crm import LocalCrm
from kamrules.connectors.local.demo import demo_portfolio
from kamrules.protocol.marker import read_marker
from tests import kamrules_process
from tests.conftest import ANCHOR, ROOT, make_workspace
from tests.support.cluster import (
    RedisServer,
    Worker,
    environment,
    kamrules,
    start_worker,
    stop_all,
    wait_for,
)
from tests.support.hubspot import FakeHubSpot
from tests.support.hubspot_workspace import TOKEN as HS_TOKEN
from tests.support.hubspot_workspace import TOKEN_ENV as HS_ENV
from tests.support.hubspot_workspace import HsWorkspace, start_fake
from tests.support.salesforce import FakeServer
from tests.support.salesforce_workspace import ENV as SF_ENV
from tests.support.salesforce_workspace import TOKEN as SF_TOKEN
from tests.support.salesforce_workspace import new_org, sf_workspace, tls_cert  # noqa: F401

DAY = ANCHOR.isoformat()
# xdist: one deployment (redis, workers, fake CRMs) per module, on one worker
pytestmark = pytest.mark.xdist_group("distributed")
# the split tenant: large enough that its coordinator cannot evaluate every chunk before the
# helper worker has loaded its packs (2,390 accounts in 60 chunks of 40)
BIG = 2390
Tasks = Callable[[], Counter[tuple[Any, ...]]]


def local_tasks(path: Path) -> Tasks:
    def tasks() -> Counter[tuple[Any, ...]]:
        crm = LocalCrm(path)
        try:
            return Counter((t.fingerprint, t.subject, t.body, t.owner_id, t.due, t.priority, t.status)
                           for t in crm.all_tasks())
        finally:
            crm.close()
    return tasks


def sf_tasks(server: FakeServer) -> Tasks:
    def tasks() -> Counter[tuple[Any, ...]]:
        return Counter((read_marker(t.get("Description"))[0], t.get("Subject"), t.get("OwnerId"),
                        t.get("ActivityDate"), t.get("Status")) for t in server.org.tasks())
    return tasks


def hs_tasks(fake: FakeHubSpot) -> Tasks:
    def tasks() -> Counter[tuple[Any, ...]]:
        return Counter((read_marker(t["properties"].get("hs_task_body"))[0],
                        t["properties"].get("hs_task_subject"),
                        t["properties"].get("hubspot_owner_id"),
                        t["properties"].get("hs_task_status")) for t in fake.tasks())
    return tasks


def single_run(root: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    """`kamrules run` in one process: the reference a distributed run must equal."""
    return subprocess.Popen([sys.executable, "-m", "kamrules", "run", "--as-of", DAY, "--json"],
                            cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


class Deployment:
    def __init__(self, root: Path, redis: RedisServer, env: dict[str, str]):
        self.root, self.redis, self.env = root, redis, env
        self.tenants = root / "tenants.yaml"
        self.workers: list[Worker] = []
        self.tasks: dict[str, Tasks] = {}
        self.reference: dict[str, Tasks] = {}
        self.fakes: dict[str, Any] = {}
        self.reports: dict[str, dict[str, Any]] = {}  # the single-process runs' JSON reports

    def history(self, tenant: str, prefix: str = "kr") -> list[dict[str, Any]]:
        client = self.redis.client()
        return [json.loads(e) for e in client.lrange(f"{prefix}:history:{tenant}", 0, -1)]

    def finished(self, tenant: str, n: int = 1, prefix: str = "kr") -> list[dict[str, Any]]:
        return wait_for(lambda: (h := self.history(tenant, prefix)) and len(h) >= n and h,
                        120, f"{n} run(s) of {tenant}", poll=0.2)

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return kamrules(self.tenants, self.env, *args)


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory, demo_records: dict[str, Any],
               tls_cert: tuple[Path, Path]) -> Iterator[Deployment]:  # noqa: F811
    root = tmp_path_factory.mktemp("distributed")
    redis = RedisServer(root / "redis").start()
    env = environment(redis.url, {SF_ENV: SF_TOKEN, HS_ENV: HS_TOKEN})
    d = Deployment(root, redis, env)
    servers: list[Any] = []
    references: list[tuple[str, subprocess.Popen[str]]] = []
    try:
        for name in ("local", "sched"):
            ws = make_workspace(root / name, demo_records)
            d.tasks[name] = local_tasks(ws.crm_path)
        big = demo_portfolio(ANCHOR, accounts=BIG, seed=11)
        for name in ("big", "big-ref", "local-ref"):
            ws = make_workspace(root / name, big if name.startswith("big") else demo_records)
            (d.reference if name.endswith("-ref") else d.tasks)[name.removesuffix("-ref")] = \
                local_tasks(ws.crm_path)
            if name.endswith("-ref"):
                references.append((name, single_run(ws.root, env)))
        for name in ("salesforce", "salesforce-ref"):
            server = FakeServer(new_org(demo_records), *tls_cert).__enter__()
            servers.append(server)
            sf_workspace(root / name, server, tls_cert[0])
            (d.reference if name.endswith("-ref") else d.tasks)[name.removesuffix("-ref")] = \
                sf_tasks(server)
        for name, budget, window in (("hubspot", 100, 1.0), ("hubspot-ref", 100, 1.0),
                                     ("hsbudget", 20, 0.5)):
            fake, url, _ = start_fake(demo_records, budget=budget, window=window)
            servers.append(fake)
            d.fakes[name] = fake
            HsWorkspace(root / name, fake, url).write_config()
            (d.reference if name.endswith("-ref") else d.tasks)[name.removesuffix("-ref")] = \
                hs_tasks(fake)
        for name in ("salesforce-ref", "hubspot-ref"):
            references.append((name, single_run(root / name, env)))
        d.tenants.write_text(
            "redis: {prefix: kr, visibility_timeout_seconds: 60}\n"
            "lease_seconds: 3\nlock_retry_seconds: 0.5\n"
            "tenants:\n"
            "  local: {config: local/kamrules.yaml}\n"
            "  salesforce: {config: salesforce/kamrules.yaml}\n"
            "  hubspot: {config: hubspot/kamrules.yaml}\n"
            "  big: {config: big/kamrules.yaml, split_accounts: 40}\n"
            "  sched: {config: sched/kamrules.yaml, schedule: '0 2 * * *'}\n"
            "  hsbudget: {config: hsbudget/kamrules.yaml}\n")
        d.workers = [start_worker(d.tenants, f"w{i}", env) for i in (1, 2)]
        for name, proc in references:
            stdout, err = proc.communicate(timeout=300)
            assert proc.returncode == 0, f"{name}: {err[-2000:]}"
            d.reports[name.removesuffix("-ref")] = json.loads(stdout)
        for w in d.workers:
            wait_for(w.ready, 60, f"worker {w.name} ready")
        yield d
    finally:
        stop_all(d.workers)
        for server in servers:
            if isinstance(server, FakeServer):
                server.__exit__(None, None, None)
            else:
                server.stop()
        redis.stop()


def test_three_tenants_on_two_workers_give_the_tasks_of_three_single_runs(
        deployment: Deployment) -> None:
    d = deployment
    enqueued = d.cli("enqueue", "local", "salesforce", "hubspot", "--as-of", DAY)
    assert enqueued.returncode == 0, enqueued.stderr
    assert enqueued.stdout.count("\tqueued\t") == 3
    runs = {name: d.finished(name)[0] for name in ("local", "salesforce", "hubspot")}
    for name, entry in runs.items():
        assert entry["outcome"] == "ok", entry
        assert entry["counts"]["created"] > 0
        tasks, reference = d.tasks[name](), d.reference[name]()
        assert tasks == reference, name
        assert all(n == 1 for n in Counter(k[0] for k in tasks).values())
    assert {e["worker"] for e in runs.values()} == {"w1@test", "w2@test"}

    status = d.cli("status", "--json")
    assert status.returncode == 0, status.stderr
    shown = {t["tenant"]: t for t in json.loads(status.stdout)["tenants"]}
    assert shown["hubspot"]["last"]["outcome"] == "ok" and shown["hubspot"]["running"] is None
    history = kamrules_process.run(["history", "--tenant", "local", "--json"], cwd=d.root,
                                   env={**d.env, "KAMRULES_TENANTS": str(d.tenants)}, timeout=60)
    assert history.returncode == 0, history.stderr
    assert json.loads(history.stdout)[0]["request_id"] == runs["local"]["request_id"]


def test_one_tenant_split_across_two_workers_equals_its_single_run(deployment: Deployment) -> None:
    d = deployment
    assert d.cli("enqueue", "big", "--as-of", DAY).returncode == 0
    entry = d.finished("big")[0]
    assert entry["outcome"] == "ok", entry
    assert entry["accounts"] == BIG
    # chunks of at most 40 accounts (the local CRM also cuts them by records: more, never fewer)
    assert sum(entry["chunks_by"].values()) >= BIG // 40 + 1
    helper = ({"w1@test", "w2@test"} - {entry["worker"]}).pop()
    assert entry["chunks_by"].get(helper, 0) > 0  # the other worker evaluated chunks too
    assert d.tasks["big"]() == d.reference["big"]()
    # and its full report (kept in the tenant's state_dir) equals the single run's, change by change
    from kamrules.run.state import StateStore

    store = StateStore(d.root / "big" / "state")
    split, single = store.reports()[-1], d.reports["big"]
    store.close()
    for key in ("accounts", "findings", "counts", "warnings", "changes", "engine", "outcome"):
        assert split[key] == single[key], key


def test_two_schedules_firing_together_make_one_run(deployment: Deployment,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    d = deployment
    firing = [subprocess.Popen([sys.executable, "-m", "kamrules", "schedule", "--once", "--at",
                                "2026-11-30T02:00:00", "--tenants", str(d.tenants)],
                               cwd=d.root, env=d.env, stdout=subprocess.PIPE, text=True)
              for _ in range(2)]
    said = "".join(p.communicate(timeout=60)[0] for p in firing)
    assert said.count("sched\tqueued") == 1 and said.count("sched\tskipped") == 1, said
    first = d.finished("sched")[0]
    assert first["outcome"] == "ok" and first["counts"]["created"] > 0
    # the same minute fired again (a third scheduler, late) enqueues nothing
    again = d.cli("schedule", "--once", "--at", "2026-11-30T02:00:30")
    assert "skipped" in again.stdout
    # two run messages for the tenant at once (bypassing the queue marker): the lease makes
    # them take turns, so only one of them writes new tasks, and never at the same time
    from kamrules.distributed.app import make_app, send_run
    from kamrules.distributed.tenants import load_tenants

    monkeypatch.setenv("KAMRULES_REDIS_URL", d.redis.url)
    app = make_app(load_tenants(d.tenants))
    send_run(app, "sched", "req-a", "run", "2026-12-01")
    send_run(app, "sched", "req-b", "run", "2026-12-01")
    runs = d.finished("sched", 3)[:2]
    assert {r["outcome"] for r in runs} == {"ok"}
    one, two = sorted(runs, key=lambda r: r["t0"])
    assert one["t1"] <= two["t0"] and one["token"] < two["token"]
    assert two["counts"]["created"] == 0
    assert all(n == 1 for n in Counter(k[0] for k in d.tasks["sched"]()).values())


def test_three_workers_on_one_hubspot_tenant_stay_within_its_budget(deployment: Deployment) -> None:
    d = deployment
    third = start_worker(d.tenants, "w3", d.env)
    d.workers.append(third)
    wait_for(third.ready, 60, "worker w3 ready")
    fake: FakeHubSpot = d.fakes["hsbudget"]
    sent = [subprocess.Popen([sys.executable, "-m", "kamrules", "enqueue", "hsbudget", *plan,
                              "--as-of", DAY, "--tenants", str(d.tenants)], cwd=d.root, env=d.env)
            for plan in ([], ["--plan"], ["--plan"])]
    assert [p.wait(timeout=60) for p in sent] == [0, 0, 0]
    runs = d.finished("hsbudget", 3)
    assert {r["outcome"] for r in runs} == {"ok"}, runs
    assert len({r["worker"] for r in runs}) == 3
    assert max(r["t0"] for r in runs) < min(r["t1"] for r in runs)  # all three at once
    assert fake.max_in_window <= fake.budget
    assert fake.refused == Counter()  # not one 429, for the 10-second or the search budget
    assert sum(fake.calls.values()) > 3 * fake.budget  # the budget was what paced them


def test_a_worker_killed_mid_run_is_replaced_and_each_task_is_written_once(
        deployment: Deployment) -> None:
    d = deployment
    ws = make_workspace(d.root / "crash", None)
    (ws.root / "crm.sqlite").write_bytes((d.root / "local-ref" / "crm.sqlite").read_bytes())
    crm = LocalCrm(ws.crm_path)
    crm.db.execute("DELETE FROM tasks")
    crm.close()
    tenants = d.root / "crash-tenants.yaml"
    tenants.write_text("redis: {prefix: kk, visibility_timeout_seconds: 2}\n"
                       "lease_seconds: 2\nlock_retry_seconds: 0.5\n"
                       "tenants:\n  crash: {config: crash/kamrules.yaml}\n")
    doomed = start_worker(tenants, "doomed", {**d.env, "KAMRULES_CRASH_AT": "write:110"})
    wait_for(doomed.ready, 60, "worker doomed ready")
    assert kamrules(tenants, d.env, "enqueue", "crash", "--as-of", DAY).returncode == 0
    assert doomed.proc.wait(timeout=120) == 137  # died like kill -9, in the second write batch
    tasks = local_tasks(ws.crm_path)
    written = tasks()
    assert 0 < sum(written.values()) < sum(d.reference["local"]().values())
    assert d.history("crash", "kk") == []

    heir = start_worker(tenants, "heir", d.env)
    try:
        entry = d.finished("crash", prefix="kk")[0]
        assert entry["outcome"] == "ok" and entry["worker"] == "heir@test", entry
        assert entry["token"] == 2
        assert entry["counts"]["created"] == sum(d.reference["local"]().values()) - sum(written.values())
        assert tasks() == d.reference["local"]()
        time.sleep(1.0)
        assert len(d.history("crash", "kk")) == 1  # the message was run once more, not twice
    finally:
        heir.stop()


def test_the_tenants_file_is_validated_with_located_errors(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("packs: [kam-core]\n")
    (tmp_path / "tenants.yaml").write_text(
        "tenants:\n  a:\n    config: a.yaml\n    schedule: '61 * * * *'\n"
        "  b:\n    config: missing.yaml\n    shedule: '0 2 * * *'\n")
    proc = subprocess.run([sys.executable, "-m", "kamrules", "status", "--tenants", "tenants.yaml"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 2, proc.stderr
    assert "tenants.yaml:4:5: tenants.a.schedule: minute: '61' is outside 0-59" in proc.stderr
    assert "tenants.yaml:7:5: tenants.b.shedule: unknown key 'shedule'" in proc.stderr
    assert "(did you mean 'schedule'?)" in proc.stderr
