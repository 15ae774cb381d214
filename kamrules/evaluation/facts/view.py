"""One account's records as of a date, and the portfolio context facts compare it with."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property
from typing import Any

from kamrules.evaluation.facts.registry import VIEW_ATTRIBUTES, last_year_revenue, name_words
from kamrules.model import (
    Account,
    AccountPlan,
    Activity,
    Case,
    Contact,
    Contract,
    Deal,
    Snapshot,
    Survey,
    TeamMember,
)
from kamrules.protocol.connector import AccountSummary


@dataclass
class Portfolio:
    """What facts need to know about all accounts: revenue ranks and key-account names."""

    sorted_revenue: list[float] = field(default_factory=list)
    # revenue_at_or_above[i]: total revenue of the accounts ranked i and above (sorted_revenue[i:])
    revenue_at_or_above: list[float] = field(default_factory=list)
    key_account_names: dict[str, str] = field(default_factory=dict)
    # first word of a key account's name -> the names (as word tuples) starting with it
    name_index: dict[str, set[tuple[str, ...]]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """Every field as JSON, for a process that evaluates a chunk elsewhere (split runs)."""
        return {"sorted_revenue": self.sorted_revenue, "revenue_at_or_above": self.revenue_at_or_above,
                "key_account_names": self.key_account_names,
                "name_index": {k: sorted(list(w) for w in v) for k, v in self.name_index.items()}}

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Portfolio:
        return cls(sorted_revenue=raw["sorted_revenue"], revenue_at_or_above=raw["revenue_at_or_above"],
                   key_account_names=raw["key_account_names"],
                   name_index={k: {tuple(w) for w in v} for k, v in raw["name_index"].items()})

    def names_in(self, text: str) -> set[tuple[str, ...]]:
        """The key-account names a text mentions, matched on whole words, ignoring case.

        A word-index lookup, so the cost grows with the text, not with the number of names.
        """
        return self.names_in_words(name_words(text))

    @cached_property
    def first_words(self) -> frozenset[str]:
        """The first words of the key-account names (derived, not a field)."""
        return frozenset(self.name_index)

    def names_in_words(self, words: tuple[str, ...]) -> set[tuple[str, ...]]:
        """`names_in` of a text already split by `name_words`; a text with none of the names'
        first words (most of them) costs one set test."""
        if self.first_words.isdisjoint(words):
            return set()
        found = set()
        for i, word in enumerate(words):
            for name in self.name_index.get(word, ()):
                if words[i:i + len(name)] == name:
                    found.add(name)
        return found


@dataclass
class AccountView:
    """One account's records as of a date, grouped once so every fact is a cheap scan."""

    as_of: date
    account: Account
    portfolio: Portfolio
    contacts: list[Contact] = field(default_factory=list)
    deals: list[Deal] = field(default_factory=list)
    activities: list[Activity] = field(default_factory=list)
    cases: list[Case] = field(default_factory=list)
    plan: AccountPlan | None = None
    team: list[TeamMember] = field(default_factory=list)
    surveys: list[Survey] = field(default_factory=list)
    contracts: list[Contract] = field(default_factory=list)
    users: dict[str, str] = field(default_factory=dict)
    # intermediate results shared between facts (kamrules/evaluation/facts/shared.py)
    memo: dict[Any, Any] = field(default_factory=dict, repr=False, compare=False)

    def user_name(self, user_id: str) -> str:
        """A user's name for evidence text (the id when the name is not known)."""
        return self.users.get(user_id, user_id)

    def days_since(self, d: date | None) -> int | None:
        return None if d is None else (self.as_of - d).days

    def within(self, d: date, days: int, offset: int = 0) -> bool:
        """True when d falls in the window (as_of - offset - days, as_of - offset]."""
        age = (self.as_of - d).days - offset
        return 0 <= age < days


@dataclass
class ContextPart:
    """What the portfolio context takes from some of the accounts, in their key order: each
    one's last-year revenue and the key accounts' names (a run may read two parts at once)."""

    revenues: list[float] = field(default_factory=list)
    names: dict[str, str] = field(default_factory=dict)


def context_part(accounts: Iterable[Account] | Iterable[AccountSummary], as_of: date) -> ContextPart:
    """One pass over the accounts; it reads only id, name, is_key and revenue, so a
    connector's `AccountSummary`s will do."""
    part = ContextPart()
    revenues, names = part.revenues, part.names
    for a in accounts:
        revenues.append(last_year_revenue(a, as_of) or 0.0)
        if a.is_key and len(a.name.strip()) >= 3:
            names[a.id] = a.name
    return part


def portfolio_of(parts: Iterable[ContextPart]) -> Portfolio:
    """The context of the accounts of every part (parts in key order, each account in one)."""
    revenues: list[float] = []
    names: dict[str, str] = {}
    for part in parts:
        revenues += part.revenues
        names.update(part.names)
    revenues.sort()
    at_or_above = [0.0] * (len(revenues) + 1)
    for i in range(len(revenues) - 1, -1, -1):
        at_or_above[i] = at_or_above[i + 1] + revenues[i]
    index: dict[str, set[tuple[str, ...]]] = defaultdict(set)
    for name in names.values():
        words = name_words(name)
        if words:
            index[words[0]].add(words)
    return Portfolio(sorted_revenue=revenues, revenue_at_or_above=at_or_above,
                     key_account_names=names, name_index=dict(index))


def portfolio_context(accounts: Iterable[Account] | Iterable[AccountSummary], as_of: date) -> Portfolio:
    """Portfolio-wide context: sorted revenues for percentiles, key-account names for P29.

    One pass over every account, so a streamed run can build it before the first chunk.
    """
    return portfolio_of([context_part(accounts, as_of)])


class WithheldRead(RuntimeError):
    """A fact read a record kind the run did not pull for the account: its `reads` are wrong."""


class Withheld:
    """An account's records of a kind the run pulled for key accounts only (`Snapshot.withheld`):
    any read fails loudly instead of finding none."""

    __slots__ = ("kind",)

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def _refuse(self, *_args: Any) -> Any:
        raise WithheldRead(f"the {self.kind} of an account that is not key were not pulled, yet"
                           " a fact read them: its `reads` (kamrules/evaluation/facts) miss it")

    __iter__ = __len__ = __bool__ = __getitem__ = __contains__ = _refuse

    def __getattr__(self, name: str) -> Any:  # a record's field (a plan's), not a protocol's
        if name.startswith("__"):
            raise AttributeError(name)
        return self._refuse()


def account_views(snapshot: Snapshot, portfolio: Portfolio | None = None) -> Iterator[AccountView]:
    """One view per account, with records dated after as_of left out.

    `portfolio` is the context of the whole portfolio when the snapshot is one chunk of it;
    by default the snapshot is the whole portfolio. The kinds the snapshot holds of key
    accounts only (`Snapshot.withheld`) are `Withheld` in the view of an account that is not key.
    """
    as_of = snapshot.as_of
    if portfolio is None:
        portfolio = portfolio_context(snapshot.accounts, as_of)
    # one dict per kind: account id -> its records, in snapshot order
    deals: dict[str, list[Deal]] = defaultdict(list)
    for d in snapshot.deals:
        if d.created <= as_of:
            deals[d.account_id].append(d)
    activities: dict[str, list[Activity]] = defaultdict(list)
    for a in snapshot.activities:
        if a.date <= as_of:
            activities[a.account_id].append(a)
    cases: dict[str, list[Case]] = defaultdict(list)
    for c in snapshot.cases:
        if c.opened <= as_of:
            cases[c.account_id].append(c)
    contacts: dict[str, list[Contact]] = defaultdict(list)
    for ct in snapshot.contacts:
        if ct.created is None or ct.created <= as_of:
            contacts[ct.account_id].append(ct)
    surveys: dict[str, list[Survey]] = defaultdict(list)
    for s in snapshot.surveys:
        if s.date <= as_of:
            surveys[s.account_id].append(s)
    team: dict[str, list[TeamMember]] = defaultdict(list)
    for t in snapshot.team:
        team[t.account_id].append(t)
    contracts: dict[str, list[Contract]] = defaultdict(list)
    for k in snapshot.contracts:
        contracts[k.account_id].append(k)
    plans = {p.account_id: p for p in snapshot.plans}
    users = {u.id: u.name for u in snapshot.users}
    absent = {VIEW_ATTRIBUTES[k]: Withheld(k) for k in sorted(snapshot.withheld)}
    for account in snapshot.accounts:
        aid = account.id
        view = AccountView(
            as_of=as_of,
            account=account,
            portfolio=portfolio,
            contacts=contacts.get(aid, []),
            deals=deals.get(aid, []),
            activities=activities.get(aid, []),
            cases=cases.get(aid, []),
            plan=plans.get(aid),
            team=team.get(aid, []),
            surveys=surveys.get(aid, []),
            contracts=contracts.get(aid, []),
            users=users,
        )
        if absent and account.is_key is not True:
            for name, value in absent.items():
                setattr(view, name, value)
        yield view
