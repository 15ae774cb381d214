"""A real redis-server on a loopback port and real Celery workers (`kamrules worker`) in
subprocesses, for the distributed tests."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests import kamrules_process
from tests.conftest import ROOT

REQUIRE_ENV = "KAMRULES_REQUIRE_REDIS"  # set by .ci/run: the distributed tests must not skip


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def redis_binary() -> str:
    found = shutil.which("redis-server")
    if found is None:
        if os.environ.get(REQUIRE_ENV):
            pytest.fail("redis-server is not installed (apt-get install redis-server)")
        pytest.skip("redis-server is not installed")
    try:
        import celery  # noqa: F401
        import redis  # noqa: F401
    except ImportError:
        if os.environ.get(REQUIRE_ENV):
            raise
        pytest.skip("pip install 'kamrules[distributed]'")
    return found


@dataclass
class RedisServer:
    root: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        self.root.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [redis_binary(), "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.root)],
            stdout=(self.root / "redis.log").open("wb"), stderr=subprocess.STDOUT)
        import redis

        client = redis.Redis(port=self.port)
        for _ in range(100):
            try:
                client.ping()
                return self
            except redis.ConnectionError:
                time.sleep(0.05)
        raise AssertionError("redis-server did not start")

    def client(self) -> Any:
        import redis

        return redis.Redis(port=self.port, decode_responses=True)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


@dataclass
class Worker:
    name: str
    proc: subprocess.Popen[bytes]
    log: Path

    def ready(self) -> bool:
        return "ready." in self.log.read_text(errors="replace")

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        stop_all([self])


def stop_all(workers: list[Worker]) -> None:
    """A warm shutdown of every worker at once (then a kill for any that hangs)."""
    running = [w for w in workers if w.proc.poll() is None]
    for w in running:
        os.killpg(w.proc.pid, signal.SIGTERM)
    for w in running:
        try:
            w.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            w.kill()


def environment(redis_url: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "KAMRULES_REDIS_URL": redis_url, **(extra or {})}
    env.pop("KAMRULES_CRASH_AT", None)
    return env


def start_worker(tenants: Path, name: str, env: dict[str, str]) -> Worker:
    log = tenants.parent / f"worker-{name}.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "kamrules", "worker", "--tenants", str(tenants), "--pool", "solo",
         "--hostname", f"{name}@test", "--loglevel", "INFO"],
        cwd=tenants.parent, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
        start_new_session=True)
    return Worker(name, proc, log)


def wait_for(predicate: Callable[[], Any], timeout: float, what: str, poll: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def kamrules(tenants: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return kamrules_process.run([*args, "--tenants", str(tenants)], cwd=tenants.parent, env=env,
                                timeout=120)
