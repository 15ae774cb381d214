"""One task per problem: kam-core's checklist bundles through the whole pipeline on the local CRM.

Exactly once, updated as items resolve or appear, closed with the last item, snoozes per item,
caps per bundle, completion by hand, and switching `tasks:` between per_rule and per_group
without ever holding one finding in two open tasks.
"""

from __future__ import annotations

import json
import shutil
from collections import defaultdict
from datetime import timedelta
from typing import Any

from tests.conftest import ANCHOR, Workspace, make_workspace

SAVA, URAL, LIKA = "ACC-000008", "ACC-000003", "ACC-000014"


def bundled(tmp_path: Any, records: dict, extra: str = "", mode: str = "per_group") -> Workspace:
    ws = make_workspace(tmp_path, records)
    (ws.root / "kamrules.yaml").write_text(
        "crm:\n  type: local\n  path: crm.sqlite\n  seed: empty\npacks: [kam-core]\n"
        f"state_dir: state\noverrides:\n  kam-core: {{tasks: {mode}}}\n" + extra)
    return ws


def set_mode(ws: Workspace, mode: str) -> None:
    path = ws.root / "kamrules.yaml"
    text = path.read_text()
    for old in ("per_group", "per_rule"):
        text = text.replace(f"tasks: {old}", f"tasks: {mode}")
    path.write_text(text)


def open_tasks(ws: Workspace) -> dict[str, Any]:
    return {t.fingerprint: t for t in ws.crm().all_tasks() if t.status == "open"}


def findings_in_open_tasks(ws: Workspace) -> dict[str, list[str]]:
    """account/rule -> the open tasks that carry it (a bundle carries each of its items)."""
    out: dict[str, list[str]] = defaultdict(list)
    for fp, task in open_tasks(ws).items():
        pack, middle, account = fp.split("/", 2)
        rules = ({key.split(".", 1)[0] for key in task.evidence} if middle.startswith("bundle:")
                 else {middle})
        for rule in rules:
            out[f"{account}/{rule}"].append(fp)
    return out


def test_the_account_with_no_plan_gets_one_planning_checklist(tmp_path, demo_records) -> None:
    ws = bundled(tmp_path / "ws", demo_records)
    report = ws.run_json(command="plan")
    sava = [c for c in report["changes"] if c["account_id"] == SAVA]
    planning = [c for c in sava if c["fingerprint"] == f"kam-core/bundle:planning/{SAVA}"]
    assert len(planning) == 1 and planning[0]["action"] == "create"
    assert planning[0]["subject"] == "Sava Machinery: account plan (8 points)"
    # per rule only the findings a running play took over (absorbs:), each without a task
    assert all(c["action"] == "suppressed" and c["reason"].startswith("in play ")
               for c in report["changes"] if "/KAM-" in c["fingerprint"])
    ws.run_json()
    body = open_tasks(ws)[f"kam-core/bundle:planning/{SAVA}"].body
    assert body.count("\n[ ] ") == 8
    assert "[ ] 1. Sava Machinery: no account plan" in body
    assert "Principle: Plan years ahead (kam-core PRINCIPLES.md, P15)" in body


def test_bundles_are_written_once_updated_as_items_resolve_and_closed_with_the_last(
    tmp_path, demo_records
) -> None:
    ws = bundled(tmp_path / "ws", demo_records)
    first = ws.run_json()
    created = first["counts"]["created"]
    assert created > 40 and first["counts"]["failed"] == 0
    again = ws.run_json()
    assert again["counts"]["created"] == 0 and again["counts"]["kept"] == created
    shutil.rmtree(ws.root / "state")
    assert ws.run_json()["counts"]["created"] == 0
    fp = f"kam-core/bundle:service/{LIKA}"
    assert open_tasks(ws)[fp].body.count("\n[ ] ") == 4

    crm = ws.crm()  # the delivery case a service agent sat on is escalated and closed
    crm.db.execute("UPDATE cases SET closed = '2026-10-31', escalated = 1"
                   f" WHERE id = '{LIKA}-C5'")
    crm.commit()
    report = ws.run_json()
    change = next(c for c in report["changes"] if c["fingerprint"] == fp)
    assert change["action"] == "update"
    assert change["subject"] == "Lika Instruments: service problems (3 points)"
    body = open_tasks(ws)[fp].body
    assert body.count("\n[ ] ") == 3 and "problem open" not in body

    crm.db.execute("UPDATE cases SET closed = '2026-10-31', escalated = 1"
                   f" WHERE account_id = '{LIKA}'")
    crm.commit()
    report = ws.run_json()
    change = next(c for c in report["changes"] if c["fingerprint"] == fp)
    assert change["action"] == "close" and change["reason"].startswith("resolved")
    assert fp not in open_tasks(ws)
    assert ws.run_json()["counts"]["closed"] == 0


def test_switching_tasks_setting_migrates_without_duplicates(tmp_path, demo_records) -> None:
    ws = bundled(tmp_path / "ws", demo_records, mode="per_rule")
    first = ws.run_json()
    # rule tasks only: the pack's plays write step tasks too (pack/play/account/step)
    per_rule = sum(1 for c in first["changes"]
                   if c["action"] == "create" and len(c["fingerprint"].split("/")) == 3)
    assert all(len(fps) == 1 for fps in findings_in_open_tasks(ws).values())
    carried = set(findings_in_open_tasks(ws))

    set_mode(ws, "per_group")
    report = ws.run_json()
    closes = [c for c in report["changes"] if c["action"] == "close"]
    assert len(closes) == per_rule
    assert all(c["reason"].startswith("moved") and "bundle:" in c["reason"] for c in closes)
    assert all(fp.split("/")[1].startswith("bundle:") for fp in open_tasks(ws) if fp.count("/") == 2)
    assert set(findings_in_open_tasks(ws)) == carried
    assert all(len(fps) == 1 for fps in findings_in_open_tasks(ws).values())
    assert ws.run_json()["counts"]["created"] == 0

    set_mode(ws, "per_rule")
    report = ws.run_json()
    assert report["counts"]["created"] == per_rule
    assert all(c["reason"].startswith("moved") for c in report["changes"] if c["action"] == "close")
    assert set(findings_in_open_tasks(ws)) == carried
    assert all(len(fps) == 1 for fps in findings_in_open_tasks(ws).values())


def test_a_snoozed_item_leaves_its_bundle_and_caps_count_bundles(tmp_path, demo_records) -> None:
    ws = bundled(tmp_path / "ws", demo_records)
    ws.cli("snooze", "add", "--account", URAL, "--rule", "KAM-DO-001", "--reason",
           "Plant shutdown", "--by", "alma", "--until", "2027-01-15")
    report = ws.run_json(command="plan")
    snoozed = [c["fingerprint"] for c in report["changes"] if c["action"] == "snoozed"]
    assert snoozed == [f"kam-core/KAM-DO-001/{URAL}"]
    service = next(c for c in report["changes"] if c["fingerprint"] == f"kam-core/bundle:service/{URAL}")
    assert service["subject"] == "Ural Steelworks: service problems (2 points)"

    capped = bundled(tmp_path / "capped", demo_records, "alerts: {max_new_tasks_per_owner: 1}\n")
    report = capped.run_json(command="plan")
    created: dict[str, int] = defaultdict(int)
    for c in report["changes"]:
        if c["action"] == "create":
            created[c["owner_id"]] += 1
    assert max(created.values()) == 1
    assert report["counts"]["held"] > 0


def test_a_bundle_completed_by_hand_is_suppressed_until_renotify(tmp_path, demo_records) -> None:
    ws = bundled(tmp_path / "ws", demo_records, "lifecycle: {renotify_after_days: 10}\n")
    ws.run_json()
    crm = ws.crm()
    fp = f"kam-core/bundle:planning/{SAVA}"
    crm.complete_task(open_tasks(ws)[fp].crm_id or "", ANCHOR)
    for days, action in ((1, "suppressed"), (10, "create")):
        day = (ANCHOR + timedelta(days=days)).isoformat()
        plan = json.loads(ws.cli("plan", "--as-of", day, "--json").stdout)
        assert next(c for c in plan["changes"] if c["fingerprint"] == fp)["action"] == action


def test_russian_and_serbian_task_text_from_the_config(tmp_path, demo_records) -> None:
    ws = bundled(tmp_path / "ru", demo_records, "locale: ru\ncurrency: RUB\n")
    report = ws.run_json(command="plan")
    subjects = {c["fingerprint"]: c["subject"] for c in report["changes"]}
    assert subjects[f"kam-core/bundle:planning/{SAVA}"] == (
        "Sava Machinery: план работы с клиентом (8 пунктов)")
    ws = bundled(tmp_path / "sr", demo_records, "locale: sr_Latn\n")
    report = ws.run_json(command="plan")
    subjects = {c["fingerprint"]: c["subject"] for c in report["changes"]}
    assert subjects[f"kam-core/bundle:planning/{SAVA}"] == (
        "Sava Machinery: plan rada sa klijentom (8 stavki)")
    bad = bundled(tmp_path / "bad", demo_records, "locale: xx_Nowhere\n")
    proc = bad.cli("plan", check=False)
    assert proc.returncode == 2 and "locale" in proc.stderr


def test_a_checklist_takes_its_most_urgent_item_first_its_earliest_due_and_highest_priority(
) -> None:
    """The bundle of one account's items: members most severe first (then by rule id), whose
    lead gives the owner and severity; the earliest due date, the highest priority, every
    item's evidence keyed `RULE.fact`; its text pending while any member's is."""
    from datetime import date

    from kamrules.construct import made
    from kamrules.language.loader import builtin_dir, load_pack
    from kamrules.model import Task
    from kamrules.writeback.bundles import Item, bundle
    from kamrules.writeback.reconcile import Desired

    pack = load_pack(builtin_dir() / "kam-core")
    key = max((r.bundle_key for r in pack.rules),
              key=lambda k: sum(r.bundle_key == k for r in pack.rules))
    rules = sorted((r for r in pack.rules if r.bundle_key == key), key=lambda r: r.id)[:3]
    assert len(rules) == 3
    as_of = date(2026, 11, 1)

    def item(rule: Any, severity: str, due: Any, priority: str, owner: str, pending: bool) -> Item:
        task = made(Task, fingerprint=f"kam-core/{rule.id}/ACC-1", account_id="ACC-1",
                    subject=f"s {rule.id}", body=f"b {rule.id}", owner_id=owner, due=due,
                    priority=priority, evidence={"n": rule.id, "shared": severity})
        return Item(pack, rule, Desired(task, severity, object() if pending else None))

    items = [item(rules[0], "low", date(2026, 11, 3), "high", "U1", False),
             item(rules[1], "critical", None, "low", "U2", False),
             item(rules[2], "critical", date(2026, 11, 2), "normal", "U3", True)]
    other = item(rules[0], "medium", None, "normal", "U9", False)
    other.desired.task.account_id = "ACC-2"
    (one, two) = bundle([*items, other], as_of, {"ACC-1": "Acme"})
    task = one.task
    assert one.severity == "critical" and task.owner_id == "U2"  # rules[1]: critical, first id
    assert [m.rule.id for m in one.text.members] == [rules[1].id, rules[2].id, rules[0].id]
    assert (task.due, task.priority, task.created) == (date(2026, 11, 2), "high", as_of)
    severities = ["low", "critical", "critical"]
    assert task.evidence == {f"{r.id}.{name}": value
                             for r, sev in zip(rules, severities, strict=True)
                             for name, value in (("n", r.id), ("shared", sev))}
    assert (task.subject, task.body) == ("", "") and one.text.account == "Acme"
    assert task.fingerprint == f"kam-core/bundle:{key}/ACC-1"
    assert two.task.account_id == "ACC-2" and two.text is None and two.task.due is None
    assert two.task.subject == "s " + rules[0].id  # a single item's subject, rendered now
