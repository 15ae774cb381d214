"""The fingerprint and evidence a task carries inside its text, for CRMs with no field for them.

The marker is the body's last line, `kamrules:{"fp": "...", "ev": {...}}`, so reconciliation can
read both back from the CRM itself; the text above it is left to the people.
"""

from __future__ import annotations

import json
from typing import Any

PREFIX = "kamrules:"


def add_marker(body: str, fingerprint: str, evidence: dict[str, Any]) -> str:
    payload = json.dumps({"fp": fingerprint, "ev": evidence}, sort_keys=True,
                         separators=(",", ":"), default=str, ensure_ascii=False)
    return f"{strip_marker(body).rstrip()}\n\n{PREFIX}{payload}"


def read_marker(body: str | None) -> tuple[str, dict[str, Any]] | None:
    """(fingerprint, evidence) from a task body, or None when it carries no valid marker."""
    if not body:
        return None
    last = body.rstrip().rsplit("\n", 1)[-1].strip()
    if not last.startswith(PREFIX):
        return None
    try:
        payload = json.loads(last[len(PREFIX):])
    except ValueError:
        return None
    if not isinstance(payload, dict) or not isinstance(payload.get("fp"), str):
        return None
    evidence = payload.get("ev")
    return payload["fp"], evidence if isinstance(evidence, dict) else {}


def strip_marker(body: str) -> str:
    lines = body.rstrip().split("\n")
    if lines and lines[-1].strip().startswith(PREFIX):
        lines = lines[:-1]
    return "\n".join(lines).rstrip()
