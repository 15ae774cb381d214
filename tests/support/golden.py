"""What runs on the demo portfolio do, as comparable JSON: the golden record of issue #18.

`outcome` runs `kamrules.run.sync.run` twice on a fresh local CRM seeded with the demo
portfolio (a first run that creates, and one three weeks later that keeps, updates, closes and
advances plays) and returns every change in report order and a digest of every task the CRM
holds afterwards (text, owner, dates, priority, evidence). `tests/support/golden_demo.json` is
this made by the code before the performance work (regenerate only on purpose:
`python -m tests.support.golden`).
"""

from __future__ import annotations

import hashlib
import inspect
import json
from datetime import date
from pathlib import Path
from typing import Any

from kamrules.cli.wiring import open_connector
from kamrules.connectors.local.demo import demo_portfolio
from kamrules.run.config import load_config, load_configured_packs
from kamrules.run.sync import run

FILE = Path(__file__).with_name("golden_demo.json")
DAYS = (date(2026, 11, 1), date(2026, 11, 22))
# (name, accounts, extra config): bundles (kam-core's default) and one task per rule
CASES = (("per_group", 300, ""), ("per_rule", 300, "overrides:\n  kam-core: {tasks: per_rule}\n"))


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:16]


def outcome(root: Path, accounts: int, extra: str, chunk_size: int = 5000,
            **options: Any) -> dict[str, Any]:
    """Two runs on a fresh workspace in `root`; `options` go to `run` (e.g. workers=2)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "kamrules.yaml").write_text(
        "crm: {type: local, path: crm.sqlite, seed: empty}\nstate_dir: state\n" + extra)
    loaded = load_config(root / "kamrules.yaml")
    packs = load_configured_packs(loaded)
    connector = open_connector(loaded)
    try:
        for kind, rows in demo_portfolio(DAYS[0], accounts=accounts).items():
            connector.insert_records(kind, rows)
        runs = []
        accepted = inspect.signature(run).parameters
        options = {k: v for k, v in options.items() if k in accepted}
        for day in DAYS:
            report = run(connector, packs, loaded, day, False, chunk_size=chunk_size,
                         digest=False, **options)
            runs.append({
                "accounts": report.accounts, "findings": report.findings, "counts": report.counts,
                "changes": [" | ".join(str(x) for x in (
                    c.action, c.fingerprint, c.owner_id, c.severity, c.reason, c.subject, c.ok))
                    for c in report.changes],
                "plays": [_digest(t.model_dump(mode="json")) for t in report.plays],
            })
        tasks = {t.fingerprint + "#" + str(i): _digest(t.model_dump(
            mode="json", include={"subject", "body", "owner_id", "due", "priority", "status",
                                  "evidence", "created", "completed", "account_id"}))
            for i, t in enumerate(sorted(connector.all_tasks(),
                                         key=lambda t: (t.fingerprint, t.crm_id or "")))}
    finally:
        connector.close()
    return {"runs": runs, "tasks": tasks}


def main() -> None:
    import tempfile

    golden = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, accounts, extra in CASES:
            golden[name] = outcome(Path(tmp) / name, accounts, extra)
    FILE.write_text(json.dumps(golden, indent=1, sort_keys=True) + "\n")
    print(f"wrote {FILE}")


if __name__ == "__main__":
    main()
