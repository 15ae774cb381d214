"""Time the local CRM's store against its floor, and against the previous store.

Seeds N demo accounts into a file of the typed store (this checkout) and into one of the
previous JSON store (connectors/local/crm.py at a git ref: by default the last commit that had
it), then times, for each: SQLite returning every row (the floor), `pull_chunks` over everything
(chunks of 5,000 accounts, as a run pulls them; the largest chunk's records shown), and `pull`;
for the typed store also planning the chunks alone (`chunk_spans`). Also times migrating the
previous store's file to the typed one. Wall and CPU seconds; the table is in CPU seconds.

    .venv/bin/python bench/local_store.py --accounts 100000 [--old-ref REF] [--no-old]
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RELATED = ("contacts", "deals", "activities", "cases", "plans", "team", "surveys", "contracts")
DAY = date(2026, 11, 1)


def old_module(ref: str, folder: Path) -> ModuleType:
    """The previous store's module, from git, imported under a name of its own."""
    source = subprocess.run(["git", "-C", str(ROOT), "show", f"{ref}:connectors/local/crm.py"],
                            check=True, capture_output=True, text=True).stdout
    path = folder / "crm_old.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("kamrules_bench_crm_old", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def timed(label: str, fn: Callable[[], Any]) -> tuple[float, Any]:
    """Run `fn`; print wall and CPU seconds (the machine is shared: CPU is the fair figure),
    return the CPU seconds and what `fn` returned."""
    start, cpu = time.perf_counter(), time.process_time()
    out = fn()
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    print(f"  {label:<34} {seconds:8.2f} s wall {cpu:8.2f} s CPU", flush=True)
    return cpu, out


def raw_read(path: Path, tables: list[str]) -> int:
    import sqlite3

    db = sqlite3.connect(path)
    rows = 0
    for table in tables:
        for _ in db.execute(f'SELECT * FROM "{table}"'):
            rows += 1
    db.close()
    return rows


def chunked(crm: Any, size: int) -> tuple[int, int, int]:
    """Accounts, chunks and the largest chunk's records, each chunk dropped before the next."""
    accounts = chunks = largest = 0
    for chunk in crm.pull_chunks(DAY, size):
        accounts += len(chunk.accounts)
        chunks += 1
        largest = max(largest, len(chunk.accounts) + sum(len(getattr(chunk, k)) for k in RELATED))
        del chunk
    return accounts, chunks, largest


def measure(label: str, crm: Any, path: Path, tables: list[str], size: int) -> dict[str, float]:
    print(f"{label}:")
    floor, rows = timed("SQLite: every row", lambda: raw_read(path, tables))
    pulled, (accounts, chunks, largest) = timed(
        f"pull_chunks({size})", lambda: chunked(crm, size))
    print(f"    {accounts} accounts in {chunks} chunks; largest {largest} records; {rows} rows")
    if hasattr(crm, "chunk_spans"):
        timed(f"chunk_spans({size}) alone", lambda: crm.chunk_spans(DAY, size))
    whole, snapshot = timed("pull (everything at once)", lambda: crm.pull(DAY))
    del snapshot
    return {"floor": floor, "chunks": pulled, "pull": whole, "largest": largest}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--size", type=int, default=5000, help="accounts per chunk (as a run)")
    # the parent of 2433253 ("typed tables per record kind"): the JSON store's last commit
    parser.add_argument("--old-ref", default="2433253^")
    parser.add_argument("--no-old", action="store_true", help="time the typed store only")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from kamrules.connectors.local.crm import LocalCrm
    from kamrules.connectors.local.demo import demo_portfolio

    with tempfile.TemporaryDirectory(prefix="kamrules-store-") as tmp:
        folder = Path(tmp)
        _, records = timed(f"demo portfolio, {args.accounts} accounts",
                           lambda: demo_portfolio(DAY, args.accounts))
        results = {}
        if not args.no_old:
            old = old_module(args.old_ref, folder)
            old_path = folder / "old.sqlite"
            crm = old.LocalCrm(old_path)
            timed("seed the previous store", lambda: crm.insert_all(records))
            results["previous"] = measure(f"previous store ({args.old_ref})", crm, old_path,
                                          ["records"], args.size)
            crm.close()
            timed("migrate it to the typed store", lambda: LocalCrm(old_path).close())
        new_path = folder / "new.sqlite"
        crm = LocalCrm(new_path)
        timed("seed the typed store", lambda: crm.insert_all(records))
        records.clear()  # the portfolio is not held while the store is read
        tables = ["users", "accounts", *RELATED, "records_unreadable"]
        results["typed"] = measure("typed store", crm, new_path, tables, args.size)
        crm.close()
    print("\nCPU seconds")
    print("store      floor s  pull_chunks s  ratio  pull s  largest chunk (records)")
    for name, r in results.items():
        print(f"{name:<10} {r['floor']:7.2f}  {r['chunks']:13.2f}  {r['chunks'] / r['floor']:5.1f}"
              f"  {r['pull']:6.2f}  {int(r['largest'])}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
