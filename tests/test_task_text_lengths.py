"""A task's text is cut to its CRM field's length, the marker kept whole (protocol/marker.py):
a text past Salesforce's 32,000 characters of Task.Description (or HubSpot's 65,536) was refused
at every run, so the task was never written, or never closed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kamrules.protocol.fieldlength import fit, units
from kamrules.protocol.marker import add_marker, read_marker, strip_marker
from tests.support.salesforce import FakeServer, sf_length
from tests.support.salesforce_workspace import ENV, TOKEN, new_org, sf_workspace, tls_cert  # noqa: F401


def test_the_marker_survives_and_the_cut_is_said() -> None:
    evidence = {"days_since_touch": 91, "owner": "ana"}
    short = add_marker("Call them.", "kam-core/R1/A1", evidence, limit=500)
    assert short == add_marker("Call them.", "kam-core/R1/A1", evidence)  # within: as it was
    for length in (500, 40_000, 1_000_000):
        text = add_marker("x" * length, "kam-core/R1/A1", evidence, limit=500)
        assert len(text) <= 500 and read_marker(text) == ("kam-core/R1/A1", evidence)
        assert strip_marker(text).endswith("more characters did not fit the CRM's 500)")
        closing = add_marker("x" * length, "kam-core/R1/A1", evidence, limit=500, note="Closed: ok")
        assert len(closing) <= 500 and strip_marker(closing).endswith("500)\n\nClosed: ok")


def _snoozed_and_closed(ws: Any, server: FakeServer, fp: str) -> dict[str, Any]:
    """The task of `fp` after its finding is snoozed and the next night's run closed it."""
    pack, rule, account = fp.split("/", 2)
    ws.cli("snooze", "add", "--rule", f"{pack}/{rule}", "--account", account, "--until",
           "2027-01-01", "--reason", "plant shutdown", "--by", "ana")
    proc = ws.cli("run", "--as-of", "2026-11-02", "--json", check=False)
    assert proc.returncode == 0, (proc.stdout[-2000:], proc.stderr[-2000:])
    return next(t for t in server.org.tasks() if read_marker(t["Description"])[0] == fp)


def test_a_task_with_peoples_notes_to_the_fields_length_is_still_closed(
        tmp_path: Path, demo_records: dict[str, list[dict[str, Any]]], tls_cert: tuple[Path, Path],  # noqa: F811
        monkeypatch: pytest.MonkeyPatch) -> None:
    """An account manager's notes fill the Description; the finding is then snoozed, and the
    closing note kamrules adds took it past 32,000 characters: STRING_TOO_LONG every night."""
    monkeypatch.setenv(ENV, TOKEN)
    with FakeServer(new_org(demo_records), *tls_cert) as server:
        ws = sf_workspace(tmp_path / "ws", server, tls_cert[0])
        first = json.loads(ws.cli("run", "--as-of", "2026-11-01", "--json").stdout)
        assert first["counts"]["created"] > 0
        task = server.org.tasks()[0]
        fp, _ = read_marker(task["Description"])
        marker = task["Description"].rsplit("\n", 1)[1]
        notes = "Called twice, left messages. " * 2000
        task["Description"] = notes[:32_000 - len(marker) - 2] + "\n\n" + marker
        assert len(task["Description"]) == 32_000  # as much as Salesforce let the person save
        closed = _snoozed_and_closed(ws, server, fp)
        text = closed["Description"]
        assert closed["IsClosed"] and len(text) <= 32_000 and text.startswith("Called twice")
        # the note survives the cut: a task without it reads back as completed by hand
        assert "did not fit the CRM's 32,000)\n\nClosed by kamrules: snoozed" in text
        again = json.loads(ws.cli("run", "--as-of", "2026-11-03", "--json").stdout)
        assert fp not in {c["fingerprint"] for c in again["changes"] if c["action"] == "close"}


def test_lengths_are_counted_as_the_crm_counts_them() -> None:
    """UTF-16 code units: an emoji is two, and a cut never splits one."""
    assert units("Baltic Foods") == 12 and units("Baltic 🐟 Foods") == 15 and units("Щука") == 4
    assert [fit("ab😀c", k) for k in range(6)] == ["", "a", "ab", "ab", "ab😀", "ab😀c"]
    notes = "Good call 👍 " * 4000  # 48,000 characters, 52,000 of Salesforce's
    text = add_marker(notes, "kam-core/R1/A1", {"owner": "Ana 🙂"}, limit=32_000)
    assert 31_900 < units(text) <= 32_000 and len(text) < units(text) - 1000
    assert read_marker(text) == ("kam-core/R1/A1", {"owner": "Ana 🙂"})
    assert "\ud83d" not in text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def test_emoji_in_names_and_notes_still_fit_salesforces_lengths(
        tmp_path: Path, demo_records: dict[str, list[dict[str, Any]]], tls_cert: tuple[Path, Path],  # noqa: F811
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Salesforce counts an emoji as two characters: a subject with a long account name holding
    emoji, cut at 255 Python characters, and a closing note after people's notes with emoji,
    cut at 32,000, were refused (STRING_TOO_LONG) at every run: never written, never closed."""
    monkeypatch.setenv(ENV, TOKEN)
    org = new_org(demo_records)
    account = next(a for a in org.objects["Account"] if a["Name"] == "Baltic Foods")
    name = "🐟 Baltic Foods " + "🌊" * 50 + " Fresh Fish & Seafood Distribution " + "x" * 80
    assert len(name) < 200 and 230 < sf_length(name) <= 255  # a name Salesforce lets one save
    account["Name"] = name
    with FakeServer(org, *tls_cert) as server:
        ws = sf_workspace(tmp_path / "ws", server, tls_cert[0])
        first = ws.cli("run", "--as-of", "2026-11-01", "--json", check=False)
        report = json.loads(first.stdout)
        assert first.returncode == 0, [c["error"] for c in report["changes"] if not c["ok"]][:3]
        mine = [t for t in server.org.tasks() if t["WhatId"] == account["Id"]]
        assert mine and all(sf_length(t["Subject"]) <= 255 for t in mine)
        assert any(sf_length(t["Subject"]) > 240 and t["Subject"].startswith("[kamrules] 🐟 Baltic")
                   for t in mine)
        task = mine[0]
        fp, _ = read_marker(task["Description"])
        marker = task["Description"].rsplit("\n", 1)[1]
        notes = ("Met their buyer 🤝, agreed next steps ✅. " * 1000)
        notes = notes.encode("utf-16-le")[:2 * (32_000 - sf_length(marker) - 2)].decode(
            "utf-16-le", "ignore")
        task["Description"] = notes + "\n\n" + marker
        assert 32_000 - 1 <= sf_length(task["Description"]) <= 32_000 < len(task["Description"]) + 2000
        closed = _snoozed_and_closed(ws, server, fp)
        assert closed["IsClosed"] and sf_length(closed["Description"]) <= 32_000
        assert "Closed by kamrules: snoozed" in closed["Description"]
