"""One task per problem: the findings of one account that belong together become one checklist.

A pack with `tasks: per_group` bundles its findings per account and bundle key (the rule's
`bundle:`, else its first group). The bundle's fingerprint is `pack/bundle:KEY/account`, so
reconciliation treats it like any task: created once, kept, updated when an item appears or
resolves (its evidence is every item's evidence, keyed `RULE.fact`), closed when the last item
resolves. Its severity is its worst item's; its owner, due date and priority are that item's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from kamrules.construct import made
from kamrules.language.loader import LoadedPack
from kamrules.language.pack import Rule
from kamrules.language.template import people
from kamrules.model import SEVERITIES, Task
from kamrules.writeback.reconcile import Desired
from kamrules.writeback.tasks import PendingText, rendered_text

PREFIX = "bundle:"
RANK = {s: i for i, s in enumerate(SEVERITIES)}
PRIORITY_RANK = {"low": 0, "normal": 1, "high": 2}
# The checklist's frame in the languages kamrules ships: plural forms in CLDR order.
FRAME = {
    "en": {"points": ("point", "points"),
           "intro": "{account}, {title}: {count} to put right{first}.", "first": ", most urgent first",
           "subject": "{account}: {title} ({count})",
           "outro": "Fix each point in the CRM: the next run ticks it off here, and closes this"
                    " task when the last one is resolved."},
    "ru": {"points": ("пункт", "пункта", "пунктов"),
           "intro": "{account}, {title}: {count} к исправлению{first}.", "first": ", самые срочные сверху",
           "subject": "{account}: {title} ({count})",
           "outro": "Исправьте каждый пункт в CRM: следующий запуск отметит его здесь и закроет"
                    " задачу, когда будет решён последний."},
    "sr": {"points": ("stavka", "stavke", "stavki"),
           "intro": "{account}, {title}: {count} za rešavanje{first}.", "first": ", najhitnije prvo",
           "subject": "{account}: {title} ({count})",
           "outro": "Rešite svaku stavku u CRM-u: sledeće pokretanje će je ovde označiti i"
                    " zatvoriti zadatak kada se reši poslednja."},
}


def bundle_fingerprint(pack_id: str, key: str, account_id: str) -> str:
    return f"{pack_id}/{PREFIX}{key}/{account_id}"


@dataclass(slots=True)
class Item:
    """One finding's task, waiting to join its bundle."""

    pack: LoadedPack
    rule: Rule
    desired: Desired


def bundle(items: list[Item], as_of: date, names: dict[str, str]) -> list[Desired]:
    """Items grouped into one checklist task per pack, bundle key and account
    (`names`: account id -> name)."""
    groups: dict[tuple[str, str, str], list[Item]] = {}
    for item in items:
        key = (item.pack.id, item.rule.bundle_key, item.desired.task.account_id)
        groups.setdefault(key, []).append(item)
    return [_one(key, members, as_of, names.get(key[2], key[2]))
            for key, members in sorted(groups.items(), key=lambda kv: kv[0])]


@dataclass(slots=True)
class PendingBundle:
    """A bundle's text not rendered yet: its members (most urgent first), rendered with it."""

    key: tuple[str, str, str]
    members: list[Item]
    as_of: date
    account: str


def _urgency(member: Item) -> tuple[int, str]:
    return -RANK[member.desired.severity], member.rule.id


def _one(key: tuple[str, str, str], members: list[Item], as_of: date, account: str) -> Desired:
    pack_id, bundle_key, account_id = key
    if len(members) > 1:  # most bundles hold one finding
        members = sorted(members, key=_urgency)
    lead = members[0]
    evidence: dict[str, object] = {}
    due: date | None = None
    priority = lead.desired.task.priority
    pending = False
    for m in members:
        rule_id, task = m.rule.id, m.desired.task
        for name, value in task.evidence.items():
            evidence[_evidence_key(rule_id, name)] = value
        if task.due is not None and (due is None or task.due < due):
            due = task.due
        if PRIORITY_RANK[task.priority] > PRIORITY_RANK[priority]:  # the first of the highest
            priority = task.priority
        pending = pending or m.desired.text is not None
    subject, body = ("", "") if pending else _text(
        key, members, [(m.desired.task.subject, m.desired.task.body) for m in members], as_of,
        account)
    return Desired(
        made(
            Task,
            fingerprint=bundle_fingerprint(pack_id, bundle_key, account_id),
            account_id=account_id,
            subject=subject[:255],
            body=body,
            owner_id=lead.desired.task.owner_id,
            due=due,
            priority=priority,
            status="open",
            evidence=evidence,
            created=as_of,
            assigned=lead.desired.task.owner_id,
        ),
        lead.desired.severity,
        PendingBundle(key, members, as_of, account) if pending else None,
    )


_KEYS: dict[tuple[str, str], str] = {}


def _evidence_key(rule_id: str, name: str) -> str:
    """`RULE.fact`, one string for every bundle that holds it (a rule's facts are few; at a
    million accounts a string per bundle and item was ~90 MB of the same few hundred keys)."""
    key = _KEYS.get((rule_id, name))
    if key is None:
        key = _KEYS[(rule_id, name)] = f"{rule_id}.{name}"
    return key


def _text(key: tuple[str, str, str], members: list[Item], texts: list[tuple[str, str]],
          as_of: date, account: str) -> tuple[str, str]:
    """The checklist's subject and body from its members' rendered texts (`texts`, in order)."""
    bundle_key = key[1]
    lead = members[0]
    pack = lead.pack
    language = pack.locale.replace("-", "_").split("_")[0]
    frame = FRAME.get(language, FRAME["en"])
    count = people(pack.locale, pack.currency, as_of).plural(len(members), *frame["points"])
    title = pack.bundle_title(bundle_key)
    first = frame["first"] if len(members) > 1 else ""
    lines = [frame["intro"].format(account=account, title=title, count=count, first=first), ""]
    for i, (member_subject, member_body) in enumerate(texts, 1):
        lines.append(f"[ ] {i}. {member_subject}")
        lines += ["    " + line if line.strip() else "" for line in member_body.splitlines()]
        lines.append("")
    lines.append(frame["outro"])
    subject = (texts[0][0] if len(members) == 1
               else frame["subject"].format(account=account, title=title, count=count))
    return subject, "\n".join(lines).strip()


def renderer(rules: dict[tuple[str, str], tuple[LoadedPack, Rule]]
             ) -> Callable[[Desired], tuple[str, str]]:
    """Desired task -> its subject and body, rendering what was left pending (one finding's
    text, or a bundle's with its members'), without copying any task; `rules`: (pack id,
    rule id) -> (pack, rule)."""

    def text(desired: Desired) -> tuple[str, str]:
        pending = desired.text
        if isinstance(pending, PendingText):
            pack, rule = rules[(pending.pack_id, pending.rule_id)]
            return rendered_text(desired.task, pending, pack, rule)
        if isinstance(pending, PendingBundle):
            subject, body = _text(pending.key, pending.members,
                                  [text(m.desired) for m in pending.members], pending.as_of,
                                  pending.account)
            return subject[:255], body
        return desired.task.subject, desired.task.body

    return text


def moved_to(packs: list[LoadedPack]):  # noqa: ANN201
    """fingerprint of an open task -> the fingerprint that now carries its finding, when the
    pack's `tasks:` setting changed (per rule <-> per group); None when it did not move."""
    by_id = {p.id: p for p in packs}

    def moved(fingerprint: str) -> str | None:
        pack_id, middle, account_id = (fingerprint.split("/", 2) + ["", ""])[:3]
        pack = by_id.get(pack_id)
        if pack is None:
            return None
        rules = {r.id: r for r in pack.active_rules}
        if pack.tasks == "per_group" and middle in rules:
            return bundle_fingerprint(pack_id, rules[middle].bundle_key, account_id)
        if pack.tasks == "per_rule" and middle.startswith(PREFIX):
            return f"{pack_id}/(one task per rule)/{account_id}"
        return None

    return moved
