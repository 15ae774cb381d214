"""A small pack extending kam-core, written where a test needs one."""

from __future__ import annotations

from pathlib import Path


def extending_pack(root: Path, when: str | None = None, name: str = "ext") -> Path:
    """`root/NAME`: a pack NAME extending kam-core, with one rule EXT-REL-001 on key accounts
    whose condition is `when` (e.g. `{fact: contacts, lt: 2}`); no rule without one."""
    ext = root / name
    (ext / "rules").mkdir(parents=True)
    (ext / "pack.yaml").write_text(f"id: {name}\nversion: 0.1.0\ndescription: e\nextends: kam-core\n")
    if when is not None:
        (ext / "rules" / "r.yaml").write_text(
            "- id: EXT-REL-001\n  title: Few contacts\n  severity: low\n  rationale: r\n"
            f"  scope: key_accounts\n  when: {when}\n"
            "  task: {subject: '{{ account_name }}', body: b, due_in_days: 7}\n")
    return ext
