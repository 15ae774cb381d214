"""The fingerprint and evidence a task carries inside its text, for CRMs with no field for them.

The marker is the body's last line, `kamrules:{"fp": "...", "ev": {...}}`, so reconciliation can
read both back from the CRM itself; the text above it is left to the people.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from kamrules.protocol.fieldlength import fit, units

PREFIX = "kamrules:"


def add_marker(body: str, fingerprint: str, evidence: dict[str, Any], limit: int | None = None,
               note: str = "", assigned: str | None = None, written: str | None = None) -> str:
    """The body, then `note` (a closing note), then the marker as the last line. With `limit`
    (the CRM field's length, in UTF-16 units) the body is cut to fit, saying so; the note and
    marker never are.
    A text past the field's length (a pack's long text, a closing note after people's notes)
    was refused at every run. The marker keeps a hash of the text (`written`: the one given, for
    a text a person changed, else this text's), so a later read tells a person's edit."""
    text = strip_marker(body).rstrip()
    fields: dict[str, Any] = {"fp": fingerprint, "ev": evidence, "h": written or text_hash(text)}
    if assigned:
        fields["to"] = assigned

    def ending() -> str:
        payload = json.dumps(fields, sort_keys=True, separators=(",", ":"), default=str,
                             ensure_ascii=False)
        return (f"\n\n{note}" if note else "") + f"\n\n{PREFIX}{payload}"

    end, total = ending(), units(text)
    if limit is not None and total + units(end) > limit:  # as the CRM counts (fieldlength.py)
        cut = "\n… (cut here: {:,} more characters did not fit the CRM's {:,})"
        room = max(0, limit - units(end) - units(cut.format(total, limit)))
        text = fit(text, room).rstrip() + cut.format(total - room, limit)
        if written is None:  # the hash of the text as it stands in the CRM (the same length)
            fields["h"] = text_hash(text)
            end = ending()
    return text + end


def text_hash(text: str) -> str:
    """A short hash of a task's text, blind to whitespace (a CRM may write line ends its way)."""
    return hashlib.sha1(" ".join(text.split()).encode(), usedforsecurity=False).hexdigest()[:12]


def edited_hash(body: str | None) -> str | None:
    """The marker's hash of the text kamrules last wrote, when the text above the marker is no
    longer that text (a person wrote in it); None when it is, or when the marker has none."""
    payload = _payload(body)
    written = payload.get("h") if payload is not None else None
    if not isinstance(written, str) or body is None:
        return None
    return written if text_hash(strip_marker(body)) != written else None


def read_marker(body: str | None) -> tuple[str, dict[str, Any]] | None:
    """(fingerprint, evidence) from a task body, or None when it carries no valid marker."""
    payload = _payload(body)
    if payload is None:
        return None
    evidence = payload.get("ev")
    return payload["fp"], evidence if isinstance(evidence, dict) else {}


def read_assigned(body: str | None) -> str | None:
    """Whom kamrules last assigned the task to, as its marker says (None: not said)."""
    payload = _payload(body)
    to = payload.get("to") if payload is not None else None
    return to if isinstance(to, str) and to else None


def _payload(body: str | None) -> dict[str, Any] | None:
    if not body or not isinstance(body, str):
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
    return payload


def strip_marker(body: str) -> str:
    lines = body.rstrip().split("\n")
    if lines and lines[-1].strip().startswith(PREFIX):
        lines = lines[:-1]
    return "\n".join(lines).rstrip()
