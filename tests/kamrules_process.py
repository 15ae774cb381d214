"""`python -m kamrules ARGS` for the tests, forked from a process that has imported kamrules.

Most command tests ask what a command prints and returns, not how Python starts, and a start
is ~0.5 CPU s of imports: the suite's 799 `kamrules` processes were 60% of its CPU (bench/
RESULTS.md, eighteenth pass). A fork server per test process imports kamrules once (every
module of it, and the CRMs' SDKs: a run imports ~0.15 CPU s of them as it goes, a HubSpot or
Salesforce one ~0.5 s); each command is a fork of it given the test's arguments, environment,
working folder and stdio, which runs `kamrules` as `python -m` does (runpy) and ends as its own
process (exit handlers, flushes, its exit code or signal). What Python or a library reads only
while starting or importing (PYTHON*, HOME, the locale, the terminal's variables, TZ: `at_start`)
cannot be handed to a fork: a command whose environment differs there (PYTHONPATH included: a
folder on it could shadow a library the server has imported) starts a new interpreter, as every
command does with KAMRULES_TEST_PROCESSES=new. Tests about the process itself (kills, memory,
start-up) start their own.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import locale
import os
import selectors
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# read by Python or by a library while the process starts or imports: HOME and _PYTHON_* by
# `site` and `sysconfig`, the terminal's by rich (its consoles are made at import), the locale
# by Babel (its default locales), RUAMEL_DEBUG by ruamel.yaml, SPHINX_BUILD by an SDK's
# dependency; pydantic reads its plugins' switch as models are made
AT_START = ("PYTHON", "_PYTHON", "LC_", "LD_", "MALLOC_", "JUPYTER_", "TTY_")
AT_START_NAMES = frozenset({"HOME", "LANG", "LANGUAGE", "TERM", "COLORTERM", "FORCE_COLOR",
                            "NO_COLOR", "COLUMNS", "LINES", "TZ", "TMPDIR", "RUAMEL_DEBUG",
                            "PYDANTIC_DISABLE_PLUGINS", "SPHINX_BUILD"})
# the SDKs' modules the connectors import as they call the CRM's API (the connectors' own and
# every other kamrules module are found by walking the packages)
SDK_MODULES = ("hubspot.crm.objects", "hubspot.crm.associations.v4", "hubspot.crm.owners",
               "hubspot.crm.properties", "hubspot.crm.schemas", "hubspot.crm.pipelines",
               "hubspot.discovery.discovery_base", "simple_salesforce")
HEADER = struct.Struct("!Q")
FORKED = [0]  # commands run by a fork, in this process (its test reads it)


def run(args: list[str] | tuple[str, ...], *, cwd: Path | str, env: dict[str, str],
        timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """What `subprocess.run([python, -m, kamrules, *args], capture_output=True, text=True)`
    returns, from a fork of the server when the environment allows it. No command reads stdin:
    a fork's is /dev/null."""
    argv = [str(a) for a in args]
    server = _server()
    # one command at a time per server: one a thread starts meanwhile is a new interpreter
    if server is not None and server.can_fork(env) and server.busy.acquire(blocking=False):
        try:
            return server.run(argv, str(cwd), env, timeout)
        finally:
            server.busy.release()
    return subprocess.run([sys.executable, "-m", "kamrules", *argv], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


class _Server:
    """The fork server, one per test process, and the socket it takes commands on."""

    def __init__(self) -> None:
        ours, theirs = socket.socketpair()
        self.env = environment()
        self.log = tempfile.TemporaryFile()  # noqa: SIM115  the server's stderr, for its life
        self.proc = subprocess.Popen(
            [sys.executable, "-c", f"from tests.kamrules_process import serve; serve({theirs.fileno()})"],
            cwd=ROOT, env=self.env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=self.log, pass_fds=[theirs.fileno()])
        theirs.close()
        self.channel = ours
        self.replies = ours.makefile("rb")
        self.busy = threading.Lock()

    def can_fork(self, env: dict[str, str]) -> bool:
        differ = {k for k in env.keys() | self.env.keys() if env.get(k) != self.env.get(k)}
        # PYTHONPATH too: a folder on it could shadow a library the server has imported
        return not any(map(at_start, differ))

    def run(self, argv: list[str], cwd: str, env: dict[str, str],
            timeout: float) -> subprocess.CompletedProcess[str]:
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        in_r = os.open(os.devnull, os.O_RDONLY)
        ask = json.dumps({"argv": argv, "cwd": cwd, "env": env}).encode()
        data = HEADER.pack(len(ask)) + ask
        try:
            sent = socket.send_fds(self.channel, [data], [in_r, out_w, err_w])
            self.channel.sendall(data[sent:])
        finally:
            for fd in (in_r, out_w, err_w):
                os.close(fd)
        pid = json.loads(self._reply())["pid"]
        FORKED[0] += 1
        deadline = time.monotonic() + timeout
        out, err = _drain(out_r, err_r, deadline)
        if out is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            self._reply()
            raise subprocess.TimeoutExpired(["kamrules", *argv], timeout)
        code = json.loads(self._reply())["exit"]
        return subprocess.CompletedProcess([sys.executable, "-m", "kamrules", *argv], code,
                                           _text(out), _text(err or b""))

    def _reply(self) -> bytes:
        line = self.replies.readline()
        if not line:
            self.log.seek(0)
            raise RuntimeError("the kamrules fork server ended:\n"
                               + self.log.read().decode(errors="replace"))
        return line

    def close(self) -> None:
        self.replies.close()
        self.channel.close()
        self.proc.wait(timeout=30)


def environment(**extra: str) -> dict[str, str]:
    """The environment a test gives a command: this process's, with kamrules' folder as
    PYTHONPATH (the server's own; a command given it plus `extra` is a fork, unless `extra`
    names what `at_start` does)."""
    return {**os.environ, "PYTHONPATH": str(ROOT), **extra}


def at_start(name: str) -> bool:
    """Whether the environment variable `name` is read while a process starts or imports."""
    return name in AT_START_NAMES or name.startswith(AT_START)


_SERVER: list[_Server | None] = []


def _server() -> _Server | None:
    if os.environ.get("KAMRULES_TEST_PROCESSES") == "new":
        return None
    if not _SERVER:
        _SERVER.append(_Server())
        atexit.register(_SERVER[0].close)  # type: ignore[union-attr]
    return _SERVER[0]


def _drain(out_fd: int, err_fd: int, deadline: float) -> tuple[bytes | None, bytes | None]:
    """Both pipes read to their end (None, None past the deadline)."""
    got: dict[int, list[bytes]] = {out_fd: [], err_fd: []}
    with selectors.DefaultSelector() as sel:
        for fd in got:
            sel.register(fd, selectors.EVENT_READ)
        while sel.get_map():
            left = deadline - time.monotonic()
            if left <= 0:
                for fd in got:
                    os.close(fd)
                return None, None
            for key, _ in sel.select(left):
                chunk = os.read(key.fd, 1 << 16)
                if chunk:
                    got[key.fd].append(chunk)
                else:
                    sel.unregister(key.fd)
                    os.close(key.fd)
    return b"".join(got[out_fd]), b"".join(got[err_fd])


def _encoding() -> str:
    return "utf-8" if sys.flags.utf8_mode else locale.getencoding()


def _text(data: bytes) -> str:
    """As `subprocess.run(text=True)` decodes: the locale's encoding, universal newlines."""
    return data.decode(_encoding()).replace("\r\n", "\n").replace("\r", "\n")


# --- the server's side ----------------------------------------------------------------------


def warm() -> None:
    """Import what the commands import: `kamrules.cli.main` first, then as they run (every
    kamrules module but `__main__`, which runs the CLI, and the SDKs the connectors call),
    which a fresh process would import too, later; none of these reads the environment as it
    is imported but what `at_start` names (tests/test_kamrules_process.py)."""
    import importlib
    import pkgutil

    import kamrules.cli.main  # noqa: F401
    import kamrules.connectors

    names = [m.name for package in (kamrules, kamrules.connectors)
             for m in pkgutil.walk_packages(package.__path__, package.__name__ + ".")]
    for name in [n for n in names if n != "kamrules.__main__"] + list(SDK_MODULES):
        # one needing what this Python lacks (durable_rules on 3.13, an SDK not installed)
        # fails in a fresh process too, where a command imports it
        with contextlib.suppress(ImportError):
            importlib.import_module(name)


def serve(fd: int) -> None:
    """Take commands until the test process closes the socket; each runs in a fork."""
    warm()
    channel = socket.socket(fileno=fd)
    while True:
        try:
            first, fds, _flags, _addr = socket.recv_fds(channel, 1 << 16, 3)
        except OSError:
            return
        if not first:
            return
        size = HEADER.unpack_from(first)[0]
        ask = first[HEADER.size:]
        while len(ask) < size:
            more = channel.recv(size - len(ask))
            if not more:  # the test process ended mid-command
                return
            ask += more
        pid = os.fork()
        if pid == 0:
            channel.close()
            _become(json.loads(ask), fds)
            import runpy

            runpy._run_module_as_main("kamrules")  # as `python -m kamrules` does
            return
        for f in fds:
            os.close(f)
        channel.sendall(json.dumps({"pid": pid}).encode() + b"\n")
        _, status = os.waitpid(pid, 0)
        channel.sendall(json.dumps({"exit": os.waitstatus_to_exitcode(status)}).encode() + b"\n")


def _become(ask: dict[str, object], fds: list[int]) -> None:
    """The fork takes the command's stdio, folder, environment and arguments; its path is the
    server's (the same PYTHONPATH) with the folder first, as `python -m` puts it."""
    for fd, std in zip(fds, (0, 1, 2), strict=True):
        os.dup2(fd, std)
        os.close(fd)
    os.chdir(str(ask["cwd"]))
    env = ask["env"]
    assert isinstance(env, dict)
    os.environ.clear()
    os.environ.update(env)
    sys.path[0] = os.getcwd()  # the server's is '' (python -c)
    argv = ask["argv"]
    assert isinstance(argv, list)
    sys.argv = ["-m", *argv]
