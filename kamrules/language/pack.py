"""The rule-pack language: pydantic models for what sales ops write in YAML.

Every model forbids unknown keys. Checks that need to know the facts and the pack's params
(fact names, operator/type fit, template placeholders) read them from the validation context,
so pydantic reports them together with every structural error.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationInfo,
    field_validator,
    model_validator,
)

from kamrules.inputs.yamlsrc import closest
from kamrules.language.numbers import check_number
from kamrules.language.textnames import BUILTIN_NAMES, NAME, check_template
from kamrules.model import TEAM_ROLES, Severity

Scalar = int | float | bool | str
ORDER_OPS = ("lt", "le", "gt", "ge")
OPERATORS = ("eq", "ne", "lt", "le", "gt", "ge", "in", "not_in", "exists")
TemplateSyntax = Literal["simple", "jinja"]
TaskMode = Literal["per_rule", "per_group"]


class UserModel(BaseModel):
    """A model of something a user writes: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class ParamRef(UserModel):
    """`{param: name}`: the value comes from the pack's params (after config overrides)."""

    param: str

    @field_validator("param")
    @classmethod
    def _known(cls, name: str, info: ValidationInfo) -> str:
        params = (info.context or {}).get("params")
        if params is not None and name not in params:
            valid = ", ".join(sorted(params)) or "(the pack defines none)"
            raise ValueError(
                f"unknown param {name!r}{closest(name, params)}; params of this pack: {valid}"
            )
        return name


def _operand_tag(value: Any) -> str:
    """`{param: x}` is a param reference, anything else a literal: one error, not one per type."""
    return "param" if isinstance(value, dict | ParamRef) else "value"


Operand = Annotated[
    Annotated[Scalar, Tag("value")] | Annotated[ParamRef, Tag("param")],
    Discriminator(_operand_tag),
]
ListOperand = Annotated[
    Annotated[list[Scalar], Tag("value")] | Annotated[ParamRef, Tag("param")],
    Discriminator(_operand_tag),
]


class FactCondition(UserModel):
    """One comparison: `{fact: contacts, lt: {param: min_contacts}}`."""

    fact: str
    eq: Operand | None = None
    ne: Operand | None = None
    lt: Operand | None = None
    le: Operand | None = None
    gt: Operand | None = None
    ge: Operand | None = None
    in_: ListOperand | None = Field(default=None, alias="in")
    not_in: ListOperand | None = None
    exists: bool | None = None

    @property
    def op(self) -> str:
        for op in OPERATORS:
            if getattr(self, "in_" if op == "in" else op) is not None:
                return op
        raise AssertionError("validated conditions have an operator")

    @property
    def operand(self) -> Any:
        return getattr(self, "in_" if self.op == "in" else self.op)

    @field_validator("fact")
    @classmethod
    def _known_fact(cls, name: str, info: ValidationInfo) -> str:
        facts = (info.context or {}).get("facts")
        if facts is not None and name not in facts:
            raise ValueError(
                f"unknown fact {name!r}{closest(name, facts)}; `kamrules facts` lists them all"
            )
        return name

    @model_validator(mode="before")
    @classmethod
    def _no_null(cls, raw: Any) -> Any:
        """`eq: null` or `in: [a, null]` asks for an unknown value, which no comparison matches:
        said so, with what to write (it was "got 0 operators", or a type error per union arm)."""
        if isinstance(raw, dict):
            for op in OPERATORS:
                value = raw.get(op, ...)
                if value is None or (isinstance(value, list) and None in value):
                    raise ValueError(
                        f"`{op}: {'null' if value is None else '[..., null]'}`: a fact with nothing"
                        " to measure is unknown, and no comparison matches it; test for it with"
                        " `exists: false` (and `exists: true` for a known value)")
        return raw

    @model_validator(mode="after")
    def _one_operator(self, info: ValidationInfo) -> FactCondition:
        given = [op for op in OPERATORS if getattr(self, "in_" if op == "in" else op) is not None]
        if len(given) != 1:
            raise ValueError(
                f"a fact condition takes exactly one operator, got {len(given)}"
                f" ({', '.join(given) or 'none'}); operators: {', '.join(OPERATORS)}"
            )
        if not isinstance(self.operand, ParamRef):
            check_number(self.operand)
        _check_types(self, info.context or {})
        return self


MAX_CONDITION_DEPTH = 20  # all/any/not nested in each other


def condition_depth(cond: Any) -> int:
    """How many all/any/not levels a condition nests (a fact condition is 1)."""
    depth, level = 1, [cond]
    while True:
        nxt: list[Any] = []
        for c in level:
            if isinstance(c, AllCondition | AnyCondition):
                nxt += c.all if isinstance(c, AllCondition) else c.any
            elif isinstance(c, NotCondition):
                nxt.append(c.not_)
        if not nxt:
            return depth
        depth, level = depth + 1, nxt


def _value_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    return "str"


def _check_types(cond: FactCondition, context: dict[str, Any]) -> None:
    """The operator and operand must fit the fact's type (no ordering of text, no 'yes' > 3)."""
    facts = context.get("facts")
    if facts is None or cond.fact not in facts:
        return
    fact_type = facts[cond.fact].type
    kind = {"int": "number", "float": "number", "bool": "bool", "str": "str"}[fact_type]
    op, operand = cond.op, cond.operand
    if op == "exists":
        return
    if op in ORDER_OPS and kind != "number":
        raise ValueError(f"{op!r} needs a number fact; {cond.fact!r} is {fact_type}")
    if isinstance(operand, ParamRef):
        params = context.get("params") or {}
        if operand.param not in params:
            return
        operand = params[operand.param]
    values = operand if isinstance(operand, list) else [operand]
    if op in ("in", "not_in") and not isinstance(operand, list):
        raise ValueError(f"{op!r} needs a list of values")
    if op not in ("in", "not_in") and isinstance(operand, list):
        raise ValueError(f"{op!r} needs one value, not a list")
    for value in values:
        if _value_kind(value) != kind:
            raise ValueError(
                f"fact {cond.fact!r} is {fact_type}, compared with {value!r}"
                f" ({_value_kind(value)}){_bool_hint(kind, value)}"
            )


# YAML 1.1 (and people) write a bool so; YAML 1.2, which packs are read as, reads these as text
BOOL_WORDS = {"yes": True, "no": False, "on": True, "off": False, "y": True, "n": False,
              "true": True, "false": False}


def _bool_hint(kind: str, value: Any) -> str:
    """For a bool fact compared with `yes`/`no`/`on`/`off` (text): how to write the bool."""
    if kind == "bool" and isinstance(value, str) and value.strip().lower() in BOOL_WORDS:
        return f": write {str(BOOL_WORDS[value.strip().lower()]).lower()}, without quotes"
    return ""


class AllCondition(UserModel):
    all: list[Condition] = Field(min_length=1)


class AnyCondition(UserModel):
    any: list[Condition] = Field(min_length=1)


class NotCondition(UserModel):
    not_: Condition = Field(alias="not")


def _condition_tag(value: Any) -> str | None:
    if isinstance(value, BaseModel):
        return {AllCondition: "all", AnyCondition: "any", NotCondition: "not"}.get(
            type(value), "fact"
        )
    if isinstance(value, dict):
        for key in ("all", "any", "not", "fact"):
            if key in value:
                return key
    return None


Condition = Annotated[
    Annotated[AllCondition, Tag("all")]
    | Annotated[AnyCondition, Tag("any")]
    | Annotated[NotCondition, Tag("not")]
    | Annotated[FactCondition, Tag("fact")],
    Discriminator(
        _condition_tag,
        custom_error_type="invalid_condition",
        custom_error_message=(
            "expected a condition: a mapping with 'all', 'any', 'not' or 'fact'"
        ),
    ),
]
AllCondition.model_rebuild()
AnyCondition.model_rebuild()
NotCondition.model_rebuild()


class ScopeFilter(UserModel):
    """A scope narrowed by a condition over facts, e.g. key accounts of one tier."""

    filter: Condition


Scope = Literal["key_accounts", "all_accounts"] | ScopeFilter


Assignee = Annotated[str, Field(pattern=r"^(owner|sales_ops|role:[a-z_]+|user:\S+)$")]


class TaskTemplate(UserModel):
    """The task a finding becomes: text with `{fact}` placeholders, due date and assignee."""

    subject: str = Field(min_length=1, max_length=255)
    body: str = Field(min_length=1)
    due_in_days: int = Field(default=7, ge=0, le=365)
    priority: Literal["low", "normal", "high"] | None = None
    assignee: Assignee = "owner"
    fallback: Assignee = "owner"

    @field_validator("subject", "body")
    @classmethod
    def _known_placeholders(cls, text: str, info: ValidationInfo) -> str:
        return check_template(text, info)

    @field_validator("assignee", "fallback")
    @classmethod
    def _known_role(cls, value: str) -> str:
        if value.startswith("role:") and value[5:] not in TEAM_ROLES:
            raise ValueError(f"unknown team role {value[5:]!r}; roles: {', '.join(TEAM_ROLES)}")
        return value


class Lifecycle(UserModel):
    """How a rule's tasks live on: closed when resolved, raised again after completion."""

    close_resolved: bool | None = None
    renotify_after_days: int | None = Field(default=None, ge=0, le=3650)


class Rule(UserModel):
    id: str = Field(pattern=r"^[A-Z][A-Z0-9]*(-[A-Z0-9]+)+$")
    title: str = Field(min_length=1)
    severity: Severity
    principles: list[Annotated[str, Field(pattern=r"^P\d{2}$")]] = Field(default_factory=list)
    groups: list[str] = Field(default_factory=list)
    rationale: str = Field(min_length=1)
    scope: Scope = "key_accounts"
    when: Condition
    task: TaskTemplate
    lifecycle: Lifecycle = Field(default_factory=Lifecycle)
    enabled: bool = True
    # the checklist task this rule's finding joins when the pack bundles (default: first group)
    bundle: str | None = Field(default=None, pattern=r"^[a-z_][a-z0-9_]*$")

    @property
    def bundle_key(self) -> str:
        return self.bundle or (self.groups[0] if self.groups else self.id)

    @field_validator("when")
    @classmethod
    def _not_too_deep(cls, when: Any) -> Any:
        depth = condition_depth(when)
        if depth > MAX_CONDITION_DEPTH:
            raise ValueError(f"the condition nests {depth} levels of all/any/not;"
                             f" the limit is {MAX_CONDITION_DEPTH}")
        return when

    @field_validator("principles", "groups")
    @classmethod
    def _declared(cls, names: list[str], info: ValidationInfo) -> list[str]:
        """A rule cites only principles and groups its pack declares (no P99, no typos)."""
        kind = info.field_name or ""
        declared = (info.context or {}).get(kind)
        if declared is None:
            return names
        for name in names:
            if name not in declared:
                listed = _span(sorted(declared)) or "none"
                raise ValueError(
                    f"{kind[:-1]} {name!r}{closest(name, declared)} is not declared in pack.yaml"
                    f" `{kind}:` (declared: {listed})"
                )
        return names


def _span(names: list[str]) -> str:
    """`P01-P43` for a run of principle ids, else the names joined."""
    if len(names) > 3 and all(re.fullmatch(r"P\d{2}", n) for n in names):
        return f"{names[0]}-{names[-1]}"
    return ", ".join(names)


class Param(UserModel):
    default: Scalar | list[Scalar]
    description: str = Field(min_length=1)
    unit: str | None = None

    @field_validator("default")
    @classmethod
    def _finite(cls, value: Any) -> Any:
        check_number(value)
        return value


class PackHeader(UserModel):
    """`pack.yaml`: the pack's identity, its params and (optionally) rules inline."""

    id: str = Field(pattern=r"^[a-z][a-z0-9-]*$")
    version: str = Field(pattern=r"^\d+(\.\d+)*([-+.][0-9A-Za-z.]+)?$")
    description: str = Field(min_length=1)
    params: dict[str, Param] = Field(default_factory=dict)
    principles: dict[Annotated[str, Field(pattern=r"^P\d{2}$")], str] = Field(
        default_factory=dict, description="principle id -> its name; rules cite only these")
    groups: dict[str, str] | list[str] = Field(
        default_factory=dict, description="rule groups (name -> what they cover); rules use only these")
    lifecycle: Lifecycle = Field(default_factory=Lifecycle)
    rules: list[Rule] = Field(default_factory=list)
    requires_kamrules: str | None = Field(default=None, description="kamrules versions, e.g. '>=0.1,<1'")
    requires_facts: list[str] = Field(default_factory=list, description="facts the rules read")
    extends: str | None = Field(default=None, description="a pack (by name) this one builds on")
    set: dict[str, Any] = Field(default_factory=dict, description="the base pack's params, changed")
    disable: list[str] = Field(default_factory=list, description="the base pack's rules, switched off")
    # `jinja`: task text in Jinja2 (sandboxed) with Babel filters; `simple`: `{name}` only
    template_syntax: TemplateSyntax = "simple"
    # `per_group`: one checklist task per account and bundle (rule group or `bundle:`)
    tasks: TaskMode = "per_rule"

    @field_validator("version", mode="before")
    @classmethod
    def _version_text(cls, value: Any) -> Any:
        if isinstance(value, int | float) and not isinstance(value, bool):  # 1.10 would be 1.1
            raise ValueError(f"YAML reads {value!r} as a number (1.10 would be 1.1): write the"
                             " version in quotes, e.g. version: '1.0.0'")
        return value

    @field_validator("params")
    @classmethod
    def _param_names(cls, params: dict[str, Param]) -> dict[str, Param]:
        bad = [name for name in params if not NAME.match(name)]
        if bad:
            raise ValueError(f"param names must be lower_snake_case: {', '.join(bad)}")
        clash = sorted(set(params) & set(BUILTIN_NAMES))
        if clash:
            raise ValueError(f"param names clash with built-in template names: {clash}")
        return params
