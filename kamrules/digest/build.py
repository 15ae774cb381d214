"""What each owner is told after a run: new, escalated and overdue tasks, and their plays.

Built from the tasks as they stand in the CRM after the write-back (the open ones read back,
with this run's changes applied), not from what this run happened to write: a rerun after a
crash builds the same digest. "New" is created on the run's as-of date; "escalated" is a step
whose priority was raised that day (its escalation task is new for whoever got it).
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable
from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from kamrules.language.template import render
from kamrules.model import SEVERITIES, Task, User
from kamrules.protocol.changes import Change, ChangeResult

Status = Literal["planned", "sent", "already_sent", "failed", "skipped"]
# by the language of the run's locale (others: English): the intro when the config gives none,
# and what a play item says
INTRO = {
    "en": "Your key accounts need attention. New, escalated and overdue items, most severe first:",
    "ru": "Ваши ключевые клиенты требуют внимания. Новые, эскалированные и просроченные задачи,"
          " самые важные первыми:",
    "sr": "Vaši ključni klijenti traže pažnju. Novi, eskalirani i zadaci koji kasne, najvažniji"
          " prvi:",
}
PLAY_ITEM = {
    "en": {"started": "play started: {title}", "completed": "play completed: {title}, every step done",
           "exited": "play ended: {title} (what started it no longer holds)"},
    "ru": {"started": "сценарий начат: «{title}»",
           "completed": "сценарий завершён: «{title}», все шаги выполнены",
           "exited": "сценарий остановлен: «{title}» (то, что его запустило, больше не выполняется)"},
    "sr": {"started": "scenario započet: „{title}”",
           "completed": "scenario završen: „{title}”, svi koraci urađeni",
           "exited": "scenario zaustavljen: „{title}” (ono što ga je pokrenulo više ne važi)"},
}
_RANK = {s: i for i, s in enumerate(SEVERITIES)}


class DigestItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["new", "escalated", "overdue", "play"]
    account_id: str
    account_name: str
    severity: str
    subject: str
    due: date | None = None
    fingerprint: str = ""


class DigestMessage(BaseModel):
    """One message to one owner on one channel, with its deterministic id."""

    model_config = ConfigDict(extra="forbid")

    owner_id: str
    channel: Literal["email", "webhook"]
    to: str | None
    subject: str
    text: str
    message_id: str
    html: str | None = None  # an HTML part beside the text, when a template gives one
    items: list[DigestItem]
    status: Status = "planned"
    error: str | None = None


class DigestReport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    outcome: Literal["planned", "ok", "failed", "off"] = "planned"
    messages: list[DigestMessage] = Field(default_factory=list)


def tasks_after(existing: Iterable[Task], changes: list[Change],
                results: list[ChangeResult] | None) -> list[Task]:
    """The open tasks once this run's writes are in (a plan applies them on paper)."""
    open_tasks = {t.crm_id or t.fingerprint: t for t in existing if t.status == "open"}
    pending = iter(results or [])
    for change in changes:
        result = next(pending, None) if change.writes and results is not None else None
        if result is not None and not result.ok:
            continue
        key = change.task.crm_id or (result.crm_id if result else None) or change.fingerprint
        if change.action == "close":
            open_tasks.pop(key, None)
        elif change.action in ("create", "update"):
            open_tasks[key] = change.task
    return list(open_tasks.values())


def message_id(scope: str, as_of: date, owner: str, channel: str) -> str:
    """The same id for the same digest, however often it is sent: receivers drop repeats."""
    digest = hashlib.sha256(f"{scope}|{as_of}|{owner}|{channel}".encode()).hexdigest()[:32]
    return f"<kamrules.{digest}@kamrules.invalid>"


def build(settings: Any, scope: str, as_of: date, tasks: list[Task], severity: dict[str, str],
          plays: list[Any], accounts: dict[str, str], users: dict[str, User],
          titles: dict[str, str] | None = None) -> list[DigestMessage]:
    """One message per owner and channel with something to say, items most severe first;
    `titles`: each play's title in the run's locale, by `pack/play id`."""
    language = settings.resolved().locale.split("_")[0]
    said = PLAY_ITEM.get(language, PLAY_ITEM["en"])
    per_owner: dict[str, list[DigestItem]] = defaultdict(list)
    for t in tasks:
        if t.owner_id is None:
            continue
        sev = severity.get(t.fingerprint, "medium")
        item = {"account_id": t.account_id, "account_name": accounts.get(t.account_id, t.account_id),
                "severity": sev, "subject": t.subject, "due": t.due, "fingerprint": t.fingerprint}
        if t.created == as_of:
            per_owner[t.owner_id].append(DigestItem(kind="new", **item))
        elif t.evidence.get("escalated") == as_of.isoformat():
            per_owner[t.owner_id].append(DigestItem(kind="escalated", **item))
        elif settings.overdue and t.due is not None and t.due < as_of:
            per_owner[t.owner_id].append(DigestItem(kind="overdue", **item))
    for p in plays:
        if p.kind in ("started", "completed", "exited") and p.owner_id:
            per_owner[p.owner_id].append(DigestItem(
                kind="play", account_id=p.account_id, severity="info",
                account_name=accounts.get(p.account_id, p.account_id),
                subject=said[p.kind].format(title=(titles or {}).get(f"{p.pack_id}/{p.play_id}",
                                                                       p.play_id))))
    messages = []
    for owner in sorted(per_owner):
        worst: dict[str, int] = defaultdict(int)
        for i in per_owner[owner]:
            worst[i.account_id] = max(worst[i.account_id], _RANK.get(i.severity, 0))
        items = sorted(per_owner[owner], key=lambda i: (  # as the text shows them
            -worst[i.account_id], i.account_name, -_RANK.get(i.severity, 0), i.kind, i.subject))
        user = users.get(owner)
        name = user.name if user else owner
        values = {"count": len(items), "owner_name": name, "as_of": as_of.isoformat()}
        texts, errors = _texts(settings, values, owner, items, as_of)
        address, bad_address = _address(user.email if user else None)
        channels = ([("email", address)] if settings.email else []) + (
            [("webhook", None)] if settings.webhook else [])
        for channel, to in channels:
            parts = ("subject", "email", "html") if channel == "email" else ("subject", "chat")
            error = next((errors[p] for p in parts if p in errors), None)
            messages.append(DigestMessage(
                owner_id=owner, channel=channel, to=to, subject=texts["subject"],
                text=texts["email" if channel == "email" else "chat"],
                html=texts["html"] if channel == "email" else None,
                message_id=message_id(scope, as_of, owner, channel), items=items,
                status="failed" if error else "skipped" if channel == "email" and not to else "planned",
                error=error or ((bad_address or "the owner has no email address in the CRM")
                                if channel == "email" and not to else None)))
    return messages


def _address(email: str | None) -> tuple[str | None, str | None]:
    """The owner's CRM email as one address to send to, or why it is not one: a line break in
    it was exit 5 (a mail header cannot hold one) and could have added a `Bcc:`."""
    if not email or not email.strip():
        return None, None
    email = email.strip()
    if any(c in email for c in "\r\n,;") or "@" not in email:
        return None, f"the owner's email address in the CRM is not one address: {email[:80]!r}"
    return email, None


def _texts(settings: Any, values: dict[str, Any], owner: str, items: list[DigestItem],
           as_of: date) -> tuple[dict[str, Any], dict[str, str]]:
    """Subject, email text (and HTML) and chat text from the run's templates (a pack's, the
    config's, or kam-core's: digest/templates.py), and why any failed on these values (a digest
    failure, never the write-back's); the config's `{name}` subject wins over a template."""
    templates = settings.resolved()
    intro = settings.intro or INTRO.get(templates.locale.split("_")[0], INTRO["en"])
    context = {**values, "owner_id": owner, "intro": render(intro, values),
               "accounts": _accounts(items), "items": [i.model_dump(mode="json") for i in items]}
    out: dict[str, Any] = {"subject": f"(digest for {values['owner_name']})", "email": "", "chat": "",
                           "html": None}
    errors: dict[str, str] = {}
    for name in ("subject", "email", "chat", "html"):
        try:
            if name == "subject":  # (it reads `subject` as empty)
                # one line: a mail header cannot hold a line break (an owner's name with one)
                text = " ".join((render(settings.subject, values) if settings.subject else (
                    templates.render("subject", {**context, "subject": "", "channel": name}, as_of)
                    or "")).split())
                out["subject"] = context["subject"] = text
                continue
            text = templates.render(name, {**context, "channel": name}, as_of)
            out[name] = text.rstrip() + "\n" if text is not None else None
        except Exception as exc:  # compiled, but failed on these values
            errors[name] = f"the digest template failed: {type(exc).__name__}: {exc}"[:500]
            if name == "subject":
                context["subject"] = out["subject"]
    return out, errors


def _accounts(items: list[DigestItem]) -> list[dict[str, Any]]:
    """Items grouped by account; accounts with the most severe item first (as templates show them)."""
    by_account: dict[str, list[DigestItem]] = defaultdict(list)
    for item in items:
        by_account[item.account_name].append(item)
    order = sorted(by_account, key=lambda a: (-max(_RANK.get(i.severity, 0) for i in by_account[a]), a))
    return [{"name": a, "id": by_account[a][0].account_id,
             "worst": max((i.severity for i in by_account[a]), key=lambda s: _RANK.get(s, 0)),
             "entries": [i.model_dump(mode="json") for i in by_account[a]]} for a in order]
