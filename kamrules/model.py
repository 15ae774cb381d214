"""The canonical, CRM-agnostic records every connector maps its data to.

Connectors build these; facts, the engine and reconciliation see nothing else.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from kamrules.record import Record, record

ActivityType = Literal["meeting", "call", "email", "note", "gift"]
Direction = Literal["inbound", "outbound", "internal"]
DealType = Literal["new", "upsell", "renewal"]
# What a deal sells: something new (a new product or application, an upsell) or the same again.
DealKind = Literal["new_product", "new_application", "upsell", "reorder", "renewal"]
ContactStatus = Literal["active", "inactive", "left"]
# Where a contact stands towards us in the buying centre (beside their formal buying role).
Stance = Literal["champion", "supporter", "neutral", "blocker"]
CasePriority = Literal["low", "medium", "high", "critical"]
TEAM_ROLES: tuple[str, ...] = (
    "account_manager", "executive_sponsor", "field_rep", "service", "technical", "finance", "other"
)
TeamRole = Literal[
    "account_manager", "executive_sponsor", "field_rep", "service", "technical", "finance", "other"
]
Severity = Literal["info", "low", "medium", "high", "critical"]
SEVERITIES: tuple[str, ...] = ("info", "low", "medium", "high", "critical")
TaskStatus = Literal["open", "completed", "closed"]


class Model(BaseModel):
    """Base of kamrules' own models of CRM data (tasks, warnings, snapshots): unknown fields are
    a bug, not data. The record kinds a connector pulls are `Record`s (kamrules/record.py)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    def __setstate__(self, state: dict[Any, Any]) -> None:
        """Unpickled as pydantic does, each field set as an attribute (`construct_compact`):
        a task a worker process sends is then held as compactly as one made in this one."""
        if not _COMPACT:
            super().__setstate__(state)
            return
        _set_compact(self, state.get("__dict__", {}), state.get("__pydantic_fields_set__", {}),
                     state.get("__pydantic_extra__", {}), state.get("__pydantic_private__", {}))


@record
class User(Record):
    id: str
    name: str
    email: str | None = None


@record
class RevenuePoint(Record):
    year: int
    amount: float


@record
class Account(Record):
    id: str
    name: str
    owner_id: str | None = None
    is_key: bool = False
    tier: str | None = None
    key_reason: str | None = None
    industry: str | None = None
    regions: list[str] = Field(default_factory=list)
    revenue: list[RevenuePoint] = Field(default_factory=list)
    potential: float | None = None
    customer_since: date | None = None
    preferred_supplier: Literal["preferred", "approved", "lost", "unknown"] | None = None


@record
class Contact(Record):
    id: str
    account_id: str
    name: str
    title: str | None = None
    department: str | None = None
    buying_role: str | None = None
    is_primary: bool = False
    region: str | None = None
    created: date | None = None
    status: ContactStatus = "active"
    stance: Stance | None = None
    win_over_plan: str | None = None


@record
class Deal(Record):
    id: str
    account_id: str
    name: str = ""
    stage: str | None = None
    amount: float | None = None
    type: DealType = "new"
    kind: DealKind | None = None
    owner_id: str | None = None
    created: date
    close_date: date | None = None
    is_closed: bool = False
    is_won: bool = False


@record
class Activity(Record):
    id: str
    account_id: str
    type: ActivityType
    date: datetime.date  # not `date`: in a slots class that name is the field's own slot
    direction: Direction = "outbound"
    subject: str = ""
    body: str = ""
    owner_id: str | None = None
    contact_ids: list[str] = Field(default_factory=list)
    amount: float | None = None


@record
class Case(Record):
    id: str
    account_id: str
    subject: str = ""
    priority: CasePriority = "medium"
    category: str | None = None
    opened: date
    closed: date | None = None
    owner_id: str | None = None
    escalated: bool = False


@record
class RiskMeasure(Record):
    kind: str
    reviewed: date | None = None


@record
class AccountPlan(Record):
    account_id: str
    horizon_years: float | None = None
    objectives: str | None = None
    objectives_reviewed: date | None = None
    customer_goals: str | None = None
    pain_points: str | None = None
    selection_criteria: str | None = None
    decision_process: str | None = None
    risk_reviewed: date | None = None
    risk_measures: list[RiskMeasure] = Field(default_factory=list)
    relationship_reviewed: date | None = None
    value_for_customer: str | None = None
    value_for_us: str | None = None
    value_reviewed: date | None = None


@record
class TeamMember(Record):
    account_id: str
    user_id: str
    role: TeamRole
    region: str | None = None


@record
class Survey(Record):
    account_id: str
    date: datetime.date  # not `date`: in a slots class that name is the field's own slot
    kind: Literal["csat", "nps"] = "csat"
    score: float


@record
class Contract(Record):
    account_id: str
    end_date: date
    start_date: date | None = None
    renewal_status: Literal["none", "in_progress", "renewed", "lost"] = "none"


class RecordWarning(Model):
    """A CRM record that was skipped or defaulted, and why."""

    kind: str
    record_id: str
    message: str


class FieldStat(Model):
    """One mapped canonical field over a pull: records with a value, values that did not parse
    (each left the field unknown, the record kept), and a few of those values."""

    field: str
    source: str = ""
    present: int = 0
    failed: int = 0
    samples: list[str] = Field(default_factory=list)
    # for value-mapped fields: CRM values met (with counts) and those the value map lacks
    values: dict[str, int] = Field(default_factory=dict)
    unmapped: list[str] = Field(default_factory=list)

    @property
    def share(self) -> float:
        return self.failed / self.present if self.present else 0.0


SAMPLES = 3  # record ids a field's tally keeps as examples of its failures


def merge_stats(into: dict[str, FieldStat], more: dict[str, FieldStat]) -> None:
    """Add tallies (a chunk's, a chunk plan's) to those of the same fields in `into`."""
    for key, stat in more.items():
        have = into.setdefault(key, FieldStat(field=stat.field, source=stat.source))
        have.present += stat.present
        have.failed += stat.failed
        have.source = have.source or stat.source
        have.samples = (have.samples + [s for s in stat.samples if s not in have.samples]
                        )[:SAMPLES]


WHOLE = " (whole records)"


def whole_records(kind: str) -> str:
    """The field under which a kind's records skipped whole (they did not validate, or their
    account is not in the CRM) are tallied for the data-quality gate, beside the mapped fields."""
    return kind + WHOLE


class Snapshot(Model):
    """Everything a connector pulled for one run, as of one date."""

    as_of: date
    users: list[User] = Field(default_factory=list)
    accounts: list[Account] = Field(default_factory=list)
    contacts: list[Contact] = Field(default_factory=list)
    deals: list[Deal] = Field(default_factory=list)
    activities: list[Activity] = Field(default_factory=list)
    cases: list[Case] = Field(default_factory=list)
    plans: list[AccountPlan] = Field(default_factory=list)
    team: list[TeamMember] = Field(default_factory=list)
    surveys: list[Survey] = Field(default_factory=list)
    contracts: list[Contract] = Field(default_factory=list)
    warnings: list[RecordWarning] = Field(default_factory=list)
    # `kind.field` -> its tally, for the fields a connector maps (the data-quality gate reads it)
    field_stats: dict[str, FieldStat] = Field(default_factory=dict)
    # True where the connector has shown that `clean` would drop nothing (no record of a missing
    # account, no repeated id): `clean` passes it as it is (kamrules/run/cleaning.py)
    checked: bool = False
    # the record kinds it holds of its key accounts only (kamrules/run/projection.py): an
    # account that is not key gets `Withheld` for them in its view, which fails loudly if read
    withheld: frozenset[str] = frozenset()


# Record kinds by their snapshot attribute, used by connectors, CSV import and tests.
RECORD_KINDS: dict[str, type[Record]] = {
    "users": User,
    "accounts": Account,
    "contacts": Contact,
    "deals": Deal,
    "activities": Activity,
    "cases": Case,
    "plans": AccountPlan,
    "team": TeamMember,
    "surveys": Survey,
    "contracts": Contract,
}


class Task(Model):
    """A task kamrules owns in the CRM, identified by its fingerprint `pack/rule/account`."""

    fingerprint: str
    account_id: str
    subject: str
    body: str
    owner_id: str | None = None
    due: date | None = None
    priority: Literal["low", "normal", "high"] = "normal"
    status: TaskStatus = "open"
    evidence: dict[str, Any] = Field(default_factory=dict)
    crm_id: str | None = None
    created: date | None = None
    completed: date | None = None
    # whom kamrules last assigned it to: an open task whose owner differs was reassigned by a
    # person (a delegate), and runs leave that alone (writeback/reconcile.py); None: not known
    assigned: str | None = None


def construct_fast(model: type[BaseModel], values: dict[str, Any], fields_set: set[str]) -> Any:
    """What `model_construct` does for a complete set of values, at a fraction of its cost;
    `fields_set` is kept as given (models of one class may share one)."""
    obj = model.__new__(model)
    object.__setattr__(obj, "__dict__", values)
    object.__setattr__(obj, "__pydantic_fields_set__", fields_set)
    object.__setattr__(obj, "__pydantic_extra__", None)
    object.__setattr__(obj, "__pydantic_private__", None)
    return obj


def _construct_safe(model: type[BaseModel], values: dict[str, Any], fields_set: set[str]) -> Any:
    return model.model_construct(_fields_set=set(fields_set), **values)


def _probe() -> Callable[[type[BaseModel], dict[str, Any], set[str]], Any]:
    """The fast constructor if it makes models equal to validated ones in this pydantic,
    else pydantic's own `model_construct`."""
    values = {"kind": "k", "record_id": "r", "message": "m"}
    good = RecordWarning.model_validate(values)
    fast = construct_fast(RecordWarning, dict(values), set(values))
    try:
        same = fast == good and fast.model_dump_json() == good.model_dump_json() and (
            fast.model_copy(update={"kind": "x"}).kind == "x")
    except Exception:  # noqa: BLE001 - any surprise means: use the supported path
        same = False
    return construct_fast if same else _construct_safe


# A model from values that are already valid (made by kamrules itself, kamrules/construct.py),
# without validating them again.
construct_record = _probe()


def construct_compact(model: type[BaseModel], values: dict[str, Any], fields_set: set[str]) -> Any:
    """`construct_fast` with each value set as an attribute, as an instance's own attributes
    are: the instance then shares its class's table of field names instead of holding a dict
    of its own (a task: 208 bytes instead of 552). Twice as slow to make (1.7 us vs 0.8), so
    for what a run holds by the hundred thousand (tasks, changes, report lines), not for the
    records it pulls by the million and lets go chunk by chunk."""
    obj = model.__new__(model)
    _set_compact(obj, values, fields_set, None, None)
    return obj


def _set_compact(obj: BaseModel, values: dict[str, Any], fields_set: Any, extra: Any,
                 private: Any) -> None:
    """A model's values set one by one as attributes, and pydantic's three slots."""
    set_ = object.__setattr__
    for name, value in values.items():
        set_(obj, name, value)
    set_(obj, "__pydantic_fields_set__", fields_set)
    set_(obj, "__pydantic_extra__", extra)
    set_(obj, "__pydantic_private__", private)


def _probe_compact() -> bool:
    """Whether compact models equal validated ones in this pydantic, pickled ones included."""
    import pickle

    global _COMPACT
    good = RecordWarning.model_validate({"kind": "k", "record_id": "r", "message": "m"})
    compact = construct_compact(RecordWarning, {"kind": "k", "record_id": "r", "message": "m"},
                                {"kind", "record_id", "message"})
    try:
        _COMPACT = True
        back = pickle.loads(pickle.dumps(compact))
        same = (compact == good == back and compact.model_dump_json() == good.model_dump_json()
                and back.model_dump() == good.model_dump()
                and compact.model_copy(update={"kind": "x"}).kind == "x")
    except Exception:  # noqa: BLE001 - any surprise means: use the supported path
        same = False
    _COMPACT = same
    return same


_COMPACT = False  # Model.__setstate__ sets fields one by one (decided by _probe_compact)
# What kamrules/construct.py makes its models with: compact where that is right in this pydantic
construct_held = construct_compact if _probe_compact() else construct_record
