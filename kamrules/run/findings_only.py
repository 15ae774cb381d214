"""The findings of every account, pulled and evaluated as a run does, for what only reads them
(`kamrules report`): in chunks, the kinds nothing reads of an account that is not key pulled of
key accounts only, each account's facts computed as its rules read them. What is kept of the
portfolio is what a report shows of it (accounts, users, their teams), not its records: at
100,000 accounts the report held the whole pull, ~600 MB, before it evaluated one account.
"""

from __future__ import annotations

from datetime import date

from kamrules.evaluation.engine import Engine
from kamrules.evaluation.facts import account_views
from kamrules.evaluation.facts.lazy import LazyFacts
from kamrules.evaluation.findings import Finding
from kamrules.language.loader import LoadedPack
from kamrules.model import Account, Snapshot, TeamMember, User
from kamrules.playbooks.advance import Plays
from kamrules.playbooks.loader import plays_of
from kamrules.protocol.connector import Connector, Progress, no_progress
from kamrules.run.projection import key_only_kinds
from kamrules.run.sync import CHUNK_ACCOUNTS, pulled


def findings_of(connector: Connector, as_of: date, packs: list[LoadedPack],
                engine_kind: str | None = None, progress: Progress = no_progress,
                size: int = CHUNK_ACCOUNTS) -> tuple[list[Finding], Snapshot]:
    """Every finding of the active rules, in the order a run finds them, and a snapshot of the
    portfolio holding only its accounts, users and account teams (`size`: accounts a chunk)."""
    plays = Plays(plays_of(packs), {p.id for p in packs})
    portfolio, chunks = pulled(connector, as_of, progress, size, key_only=key_only_kinds(packs, plays))
    engine = Engine(packs, engine_kind)
    total = len(portfolio.sorted_revenue) or None
    findings: list[Finding] = []
    accounts: list[Account] = []
    team: list[TeamMember] = []
    users: dict[str, User] = {}
    for chunk in chunks:
        for view in account_views(chunk, portfolio):
            findings.extend(engine.findings_for(view.account.id, LazyFacts(view)))
        accounts += chunk.accounts
        team += chunk.team
        users.update((u.id, u) for u in chunk.users)
        progress("evaluate", len(accounts), total)
        del chunk
    kept = Snapshot.model_construct(as_of=as_of, accounts=accounts, users=list(users.values()),
                                    team=team)
    return findings, kept
