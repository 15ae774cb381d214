"""Turning findings into the tasks they should be: text, assignee, priority and due date."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Container, Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from typing import Any, Protocol, TypeVar

from jinja2 import TemplateError

from kamrules.construct import made
from kamrules.evaluation.facts import REGISTRY
from kamrules.evaluation.facts.lazy import LazyFacts
from kamrules.evaluation.findings import Finding
from kamrules.inputs.sanitize import formula_safe, one_line, terminal_safe
from kamrules.language.bounded import TooBig
from kamrules.language.loader import LoadedPack
from kamrules.language.pack import Rule
from kamrules.language.template import compile_jinja, jinja_names, render, render_jinja, show
from kamrules.language.textnames import placeholders
from kamrules.language.translation import RuleText
from kamrules.model import Account, RecordWarning, Snapshot, Task, TeamMember

T = TypeVar("T")

PRIORITY_BY_SEVERITY = {
    "info": "low", "low": "low", "medium": "normal", "high": "high", "critical": "high",
}


class Owned(Protocol):
    """What an assignee is found from: an account (or what a play keeps of one)."""

    @property
    def id(self) -> str: ...

    @property
    def owner_id(self) -> str | None: ...


@dataclass
class Directory:
    """Who is who: account owners, team roles and user names, for assignees and templates."""

    accounts: dict[str, Account]
    users: dict[str, str]
    team: dict[str, list[TeamMember]]
    sales_ops_owner: str | None = None

    @classmethod
    def from_snapshot(cls, snapshot: Snapshot, sales_ops_owner: str | None) -> Directory:
        team: dict[str, list[TeamMember]] = {}
        for member in sorted(snapshot.team, key=lambda t: t.user_id):
            team.setdefault(member.account_id, []).append(member)
        return cls(
            accounts={a.id: a for a in snapshot.accounts},
            users={u.id: u.name for u in snapshot.users},
            team=team,
            sales_ops_owner=sales_ops_owner,
        )

    def assignee(self, spec: str, account: Owned) -> str | None:
        if spec == "owner":
            return account.owner_id
        if spec == "sales_ops":
            return self.sales_ops_owner
        if spec.startswith("user:"):
            return spec[5:]
        role = spec[5:]
        return next((m.user_id for m in self.team.get(account.id, []) if m.role == role), None)


def unknown_users(packs: Iterable[LoadedPack], plays: Iterable[tuple[LoadedPack, Any]],
                  users: Container[str], sales_ops_owner: str | None) -> list[RecordWarning]:
    """A warning for each `user:ID` assignee (of a rule, a play's step or escalation) and a
    `sales_ops_owner` that is not a user of the CRM: their tasks went to no one, unsaid."""
    places: dict[str, list[str]] = {}
    for pack in packs:
        for rule in pack.active_rules:
            for spec in (rule.task.assignee, rule.task.fallback):
                places.setdefault(spec, []).append(f"{pack.id}/{rule.id}")
    for pack, play in plays:
        for step in play.steps:
            escalate = step.escalate
            for spec in (step.task.assignee, step.task.fallback, escalate and escalate.assignee,
                         escalate and escalate.fallback):
                places.setdefault(spec or "", []).append(f"{pack.id}/{play.id} step {step.id}")
    if sales_ops_owner:
        places.setdefault(f"user:{sales_ops_owner}", []).append("the config's sales_ops_owner")
    return [RecordWarning(kind="assignees", record_id=spec[5:], message=(
        f"{', '.join(dict.fromkeys(where))} assign tasks to {spec[5:]!r}, who is not a user in the"
        " CRM: those tasks would go to no one; give a user id the CRM has, or a role"))
        for spec, where in places.items()
        if spec.startswith("user:") and spec[5:] not in users]


def evidence_items(evidence: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """Each evidence fact as (name, value, unit or "", meaning or ""), for any rendering."""
    items = []
    for name, value in evidence.items():
        spec = REGISTRY.get(name)
        unitless = value is None or spec is None or spec.unit in ("flag", "text", "count")
        unit = "" if unitless else spec.unit
        items.append((name, show(value), unit, spec.meaning if spec else ""))
    return items


def evidence_text(evidence: dict[str, Any]) -> str:
    """Evidence as a bulleted list: each fact, its value and what it means."""
    return "\n".join(
        f"- {name}: {value}{' ' + unit if unit else ''}{f' ({meaning})' if meaning else ''}"
        for name, value, unit, meaning in evidence_items(evidence)
    )


FOOTER = {
    "en": "Principle: {names} ({pack} PRINCIPLES.md, {codes})",
    "ru": "Принцип: {names} ({pack} PRINCIPLES.md, {codes})",
    "sr": "Princip: {names} ({pack} PRINCIPLES.md, {codes})",
}


@lru_cache(maxsize=4096)
def text_names(syntax: str, subject: str, body: str) -> frozenset[str] | None:
    """Every name a task text reads (None when a Jinja text does not parse: all of them)."""
    if syntax != "jinja":
        return frozenset(placeholders(subject + body))
    try:
        return frozenset(jinja_names(subject) | jinja_names(body))
    except Exception:  # noqa: BLE001 (rendering reports it; here every name is the safe answer)
        return None


_PER_RULE: dict[tuple[int, int, str, str], tuple[LoadedPack, Rule, Any]] = {}


def _per_rule(what: str, pack: LoadedPack, rule: Rule, make: Callable[[LoadedPack, Rule], T]) -> T:
    """`make(pack, rule)`, remembered per pack, rule and locale: what every task of a rule
    shares is made once, not per task. An entry keeps its pack and rule alive, so their ids
    are not reused while it is kept."""
    key = (id(pack), id(rule), pack.locale, what)
    found = _PER_RULE.get(key)
    if found is None:
        if len(_PER_RULE) >= 4096:
            _PER_RULE.clear()
        found = _PER_RULE[key] = (pack, rule, make(pack, rule))
    return found[2]  # type: ignore[no-any-return]


def _rule_text(pack: LoadedPack, rule: Rule) -> RuleText:
    """`pack.text(rule)`: it looks the translation up and validates a RuleText on every call
    (twice per task)."""
    return _per_rule("text", pack, rule, LoadedPack.text)


def _rule_named(pack: LoadedPack, rule: Rule) -> dict[str, Any]:
    """The names a task text reads that are the rule's and its pack's, the same in every task
    (its principles' names are looked up in the translations)."""
    return _per_rule("named", pack, rule, lambda p, r: dict(
        rule_id=r.id,
        rule_title=r.title,
        severity=r.severity,
        principles=", ".join(r.principles),
        principle_names=p.principle_names(r),
        rationale=r.rationale.strip(),
        pack_id=p.id,
    ))


def _text_source(pack: LoadedPack, rule: Rule) -> tuple[str, str, str]:
    text = _rule_text(pack, rule)  # in the locale: a plain pack's translations/ too
    return pack.template_syntax, text.subject, text.body


def template_facts(pack: LoadedPack, rule: Rule) -> tuple[str, ...]:
    """The facts the rule's task text reads in the pack's locale and syntax."""
    return _registered(text_names(*_text_source(pack, rule)), len(REGISTRY))


@lru_cache(maxsize=4096)
def _registered(names: frozenset[str] | None, _known: int) -> tuple[str, ...]:
    """The registered facts among `names`, in the registry's order (`_known`: the registry's
    size, so a fact registered later is not missed)."""
    return tuple(REGISTRY) if names is None else tuple(n for n in REGISTRY if n in names)


@dataclass(slots=True)
class PendingText:
    """A task's text not rendered yet: what `rendered_text` needs, and nothing else, so it is
    small to keep (and to send from a worker process). Kept tasks never need their text."""

    pack_id: str
    rule_id: str
    values: dict[str, Any]
    account_name: str
    as_of: date


def build_task(
    finding: Finding, pack: LoadedPack, rule: Rule, directory: Directory, as_of: date,
    facts: dict[str, Any] | None = None, pending: list[PendingText] | None = None,
) -> Task:
    """The task a finding should be, rendered from the rule's template in the pack's locale.

    `facts` (all of the account's facts) lets the text show specifics the rule did not
    compare, such as which case or which meeting; the evidence stays what the rule read.
    With `pending` (a list), the text is not rendered: the task's subject and body stay empty
    and what renders them later (`rendered_text`) is appended to the list.
    """
    account = directory.accounts[finding.account_id]
    owner = directory.assignee(rule.task.assignee, account)
    if owner is None:
        owner = directory.assignee(rule.task.fallback, account) or account.owner_id
    lazy = isinstance(facts, LazyFacts)
    # the names the text reads (None: every one), for a text rendered later or lazy facts
    names = text_names(*_text_source(pack, rule)) if lazy or pending is not None else None
    if isinstance(facts, LazyFacts):  # computed on demand: compute what the text reads
        facts.fill(_registered(names, len(REGISTRY)))
    named = dict(
        account_name=account.name,
        account_id=account.id,
        owner_name=directory.users.get(account.owner_id or "", account.owner_id or "unassigned"),
        **_rule_named(pack, rule),
    )
    if pending is None or names is None:
        named["evidence"] = evidence_text(finding.evidence)
        values = _values(facts or {}, finding.evidence, pack.values, named)
    else:  # only what the text reads, and what the fallback text and the footer read; the
        # evidence as text is made from the task's evidence when it renders (`rendered_text`)
        values = {k: v for k in names if k != "evidence" and (v := _value(
            k, facts or {}, finding.evidence, pack.values, named)) is not _ABSENT}
        values.update(principle_names=named["principle_names"])
    if pending is None:
        subject, body = _render(pack, rule, values, account.name, as_of)
    else:
        pending.append(PendingText(pack.id, rule.id, values, account.name, as_of))
        subject = body = ""
    return made(  # one per finding: built without a field-name set of its own (construct.py)
        Task,
        fingerprint=finding.fingerprint,
        account_id=account.id,
        # CRM text (names) may carry escape codes, bidi overrides or a formula: never passed on
        subject=formula_safe(one_line(subject))[:255],
        body=terminal_safe(body).strip(),
        owner_id=owner,
        due=as_of + timedelta(days=rule.task.due_in_days),
        priority=rule.task.priority or PRIORITY_BY_SEVERITY[rule.severity],
        status="open",
        evidence=dict(finding.evidence),
        created=as_of,
        assigned=owner,
    )


def _values(facts: dict[str, Any], evidence: dict[str, Any], params: dict[str, Any],
            named: dict[str, Any]) -> dict[str, Any]:
    """Every name a task text may read, later sources winning: every fact is a known name
    (None when not given), so a template never meets an undefined."""
    return {**dict.fromkeys(REGISTRY), **facts, **evidence, **params, **named}


_ABSENT = object()


def _value(name: str, facts: dict[str, Any], evidence: dict[str, Any], params: dict[str, Any],
           named: dict[str, Any]) -> Any:
    """`_values(...).get(name, _ABSENT)` without building the dict (facts: those computed)."""
    for source in (named, params, evidence):
        if name in source:
            return source[name]
    if dict.__contains__(facts, name):
        return dict.__getitem__(facts, name)
    return None if name in REGISTRY else _ABSENT


def rendered_text(task: Task, pending: PendingText, pack: LoadedPack, rule: Rule) -> tuple[str, str]:
    """The subject and body of a task built with `pending` text, as build_task renders them
    at once (the task itself is not copied)."""
    values = pending.values
    names = text_names(*_text_source(pack, rule))
    if "evidence" not in values and (names is None or "evidence" in names):
        values = {**values, "evidence": evidence_text(task.evidence)}
    subject, body = _render(pack, rule, values, pending.account_name, pending.as_of,
                            task.evidence)
    return formula_safe(one_line(subject))[:255], terminal_safe(body).strip()


def compile_texts(packs: Iterable[LoadedPack], as_of: date) -> None:
    """The task texts of the packs' active rules compiled for `_render` now, so the text
    renderers a run forks afterwards share them (each compiled them again: ~0.1 s a process
    at 100,000 accounts, issue #18). A text that does not compile is left to `_render`'s
    plain-text fallback."""
    for pack in packs:
        if pack.template_syntax != "jinja":
            continue
        for rule in pack.active_rules:
            text = _rule_text(pack, rule)
            for source in (text.subject, text.body):
                with contextlib.suppress(TemplateError):
                    compile_jinja(source, pack.locale, pack.currency, as_of)


# texts that went past a bound of the sandbox: each would again for every account (up to a second
# each, an hour a night at 100,000 accounts), so the rest of this process falls back at once
_PAST_BOUNDS: set[tuple[str, str]] = set()


def _render(pack: LoadedPack, rule: Rule, values: dict[str, Any], account_name: str,
            as_of: date, evidence: dict[str, Any] | None = None) -> tuple[str, str]:
    """The text's subject and body; `evidence`: the finding's, made into text here only if
    the text falls back to plain (where `values` has no "evidence": its template reads none)."""
    if pack.template_syntax == "jinja":
        text = _rule_text(pack, rule)
        try:
            if (text.subject, text.body) in _PAST_BOUNDS:
                raise TooBig("this text went past a bound of the sandbox before")
            subject = render_jinja(text.subject, values, pack.locale, pack.currency, as_of)
            body = render_jinja(text.body, values, pack.locale, pack.currency, as_of).strip()
        except Exception as exc:  # noqa: BLE001 (a value the template did not expect, a bound of
            # kamrules/language/bounded.py, a macro calling itself: plain text with the evidence)
            if isinstance(exc, TooBig) and len(_PAST_BOUNDS) < 4096:
                _PAST_BOUNDS.add((text.subject, text.body))
            subject = f"{account_name}: {text.title or rule.title}"
            shown = values["evidence"] if "evidence" in values else evidence_text(evidence or {})
            body = f"{rule.rationale.strip()}\n\n{shown}\n\n({type(exc).__name__})"
        footer = FOOTER.get(pack.locale.split("_")[0], FOOTER["en"])
        if rule.principles:
            body += "\n\n" + footer.format(names=values["principle_names"], pack=pack.id,
                                            codes=", ".join(rule.principles))
    else:
        text = _rule_text(pack, rule)
        subject = render(text.subject, values, pack.locale)
        body = render(text.body, values, pack.locale).strip()
    return subject, body
