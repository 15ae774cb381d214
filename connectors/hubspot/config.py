"""The `crm:` section for HubSpot and the property mapping it points to (both user-written)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from kamrules.connectors.mapping.language import Spec, as_spec
from kamrules.connectors.retry import RetrySettings
from kamrules.inputs.addresses import HttpUrl
from kamrules.inputs.days import MAX_LOOKBACK_MINUTES, MAX_REFRESH_DAYS, MAX_WAIT_SECONDS
from kamrules.inputs.secrets import SecretRef
from kamrules.inputs.shipped import shipped_file

DEFAULT_MAPPING = "hubspot.mapping.yaml"
FieldKind = Literal["accounts", "contacts", "deals", "activities", "cases", "plans", "team", "surveys",
                    "contracts"]
FIXED = {"id", "account_id"}  # set from the record and its association, never mapped
# the object type whose records each canonical kind is read from (custom objects: their section)
KINDS_OF: dict[str, tuple[str, ...]] = {
    "companies": ("accounts", "plans", "team", "surveys", "contracts"),
    "contacts": ("contacts",), "deals": ("deals",), "tickets": ("cases",),
    "meetings": ("activities",), "calls": ("activities",), "emails": ("activities",),
    "notes": ("activities",),
}


class HubSpotConfig(BaseModel):
    """`crm: {type: hubspot, ...}`: where HubSpot is, the token's source, the budget to keep to."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["hubspot"]
    access_token: SecretRef = Field(description="private-app access token: {env: NAME} or {file: path}")
    base_url: HttpUrl = "https://api.hubapi.com"
    mapping: str | None = Field(default=None, description="mapping YAML; default the shipped one")
    key_account_property: str | None = Field(
        default=None, description="company property marking key accounts (default: the mapping's)"
    )
    key_account_value: str | None = None
    fingerprint_property: str | None = Field(
        default=None, description="a custom task property that holds the fingerprint, if you made one"
    )
    requests_per_10s: int = Field(
        default=100, ge=1, le=190, description="the app's budget: 100 (Free/Starter) or 190 (Pro/Enterprise)"
    )
    search_per_second: int = Field(default=4, ge=1, le=5)
    rate_window_seconds: float = Field(
        default=10.0, gt=0, le=MAX_WAIT_SECONDS,
        description="the budget's window; leave at 10 (tests shorten it)"
    )
    incremental: bool = True
    lookback_minutes: int = Field(default=15, ge=0, le=MAX_LOOKBACK_MINUTES)
    full_refresh_days: int | None = Field(default=7, ge=0, le=MAX_REFRESH_DAYS)
    timeout_seconds: float = Field(default=60.0, gt=0, le=MAX_WAIT_SECONDS)
    retry: RetrySettings = Field(default_factory=RetrySettings)
    portal_id: int | None = Field(
        default=None, ge=1, description="your Hub ID (account menu): lets reports link to each task"
    )
    app_url: HttpUrl = Field(default="https://app.hubspot.com", description="HubSpot's UI, for task links")


CONFIG = HubSpotConfig


# --- the mapping: canonical field -> HubSpot property --------------------------------------------


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")

    def property_names(self) -> list[str]:
        """The HubSpot properties this section reads (what `object` names is an object, not one)."""
        return [v for f, v in self if isinstance(v, str) and f not in NOT_PROPERTIES]


NOT_PROPERTIES = ("key_account_value", "object")
# What the CRM API accepts for a custom object: its objectTypeId, `p_<name>` or `p<portal id>_<name>`.
CUSTOM_OBJECT = re.compile(r"^(2-\d+|p\d*_[A-Za-z][A-Za-z0-9_]*)$")


def _custom_object(value: str) -> str:
    if not CUSTOM_OBJECT.match(value):
        raise ValueError(
            f"{value!r} is no custom object name: use its objectTypeId (2-123456), p_<name>"
            " or its fully qualified name (p<portal id>_<name>)"
        )
    return value


CustomObjectName = Annotated[str, AfterValidator(_custom_object)]


class CompanyMap(Section):
    name: str = "name"
    owner_id: str | None = "hubspot_owner_id"
    key_account: str = "hs_is_target_account"
    key_account_value: str = "true"
    tier: str | None = "hs_ideal_customer_profile"
    key_reason: str | None = "kam_key_reason"
    industry: str | None = "industry"
    regions: str | None = "kam_regions"
    annual_revenue: str | None = "annualrevenue"
    revenue_history: str | None = "kam_revenue_history"
    potential: str | None = "kam_potential"
    customer_since: str | None = "kam_customer_since"
    preferred_supplier: str | None = "kam_supplier_status"
    modified: str = "hs_lastmodifieddate"


class ContactMap(Section):
    first_name: str = "firstname"
    last_name: str = "lastname"
    title: str | None = "jobtitle"
    department: str | None = "kam_department"
    buying_role: str | None = "hs_buying_role"
    region: str | None = "kam_region"
    status: str | None = Field(default="kam_contact_status", description="active | inactive | left")
    stance: str | None = Field(default="kam_stance", description="champion | supporter | neutral | blocker")
    win_over_plan: str | None = "kam_win_over_plan"
    created: str | None = "createdate"
    primary_association_type: int | None = Field(
        default=2, description="company-to-contact association type id marking the primary contact"
    )
    modified: str = "lastmodifieddate"


class DealMap(Section):
    name: str = "dealname"
    stage: str = "dealstage"
    pipeline: str = "pipeline"
    amount: str | None = "amount"
    type: str | None = "dealtype"
    kind: str | None = Field(default="kam_deal_kind",
                             description="new_product | new_application | upsell | reorder | renewal")
    owner_id: str | None = "hubspot_owner_id"
    created: str = "createdate"
    close_date: str | None = "closedate"
    modified: str = "hs_lastmodifieddate"


class EngagementMap(Section):
    date: str
    subject: str | None = None
    body: str | None = None
    direction: str | None = None
    owner_id: str | None = "hubspot_owner_id"
    gift_amount: str | None = None
    modified: str = "hs_lastmodifieddate"


class TicketMap(Section):
    subject: str = "subject"
    priority: str | None = "hs_ticket_priority"
    category: str | None = "hs_ticket_category"
    pipeline: str = "hs_pipeline"
    stage: str = "hs_pipeline_stage"
    opened: str = "createdate"
    closed: str | None = "closed_date"
    owner_id: str | None = "hubspot_owner_id"
    escalated: str | None = "kam_escalated"
    modified: str = "hs_lastmodifieddate"


class PlanMap(Section):
    """Account-plan fields: company properties (one plan per company), or the properties of a custom
    object's records when `object` names one (the most recently modified record of a company is its plan).
    """

    object: CustomObjectName | None = Field(
        default=None, description="custom object holding the plans; null: company properties"
    )
    modified: str = Field(default="hs_lastmodifieddate", description="with `object`: its bookmark property")
    horizon_years: str | None = "kam_plan_horizon_years"
    objectives: str | None = "kam_plan_objectives"
    objectives_reviewed: str | None = "kam_plan_objectives_reviewed"
    customer_goals: str | None = "kam_plan_customer_goals"
    pain_points: str | None = "kam_plan_pain_points"
    selection_criteria: str | None = "kam_plan_selection_criteria"
    decision_process: str | None = "kam_plan_decision_process"
    risk_reviewed: str | None = "kam_plan_risk_reviewed"
    risk_measures: str | None = Field(default="kam_plan_risk_measures", description="`kind@YYYY-MM-DD;...`")
    relationship_reviewed: str | None = "kam_plan_relationship_reviewed"
    value_for_customer: str | None = "kam_plan_value_for_customer"
    value_for_us: str | None = "kam_plan_value_for_us"
    value_reviewed: str | None = "kam_plan_value_reviewed"

    def property_names(self) -> list[str]:
        fields = PLAN_FIELDS + (("modified",) if self.object else ())
        return [v for f in fields if isinstance(v := getattr(self, f), str)]


PLAN_FIELDS = tuple(f for f in PlanMap.model_fields if f not in ("object", "modified"))


class SurveyMap(Section):
    """Surveys as records of a custom object, one record per survey (replaces `extras.surveys`)."""

    object: CustomObjectName
    date: str = "survey_date"
    kind: str | None = Field(
        default="survey_kind", description="csat | nps, translated by values.survey_kind"
    )
    score: str = "survey_score"
    modified: str = "hs_lastmodifieddate"


class ContractMap(Section):
    """Contracts as records of a custom object, any number per company (replaces `extras.contract_*`)."""

    object: CustomObjectName
    start_date: str | None = "start_date"
    end_date: str = "end_date"
    renewal_status: str | None = Field(
        default="renewal_status", description="translated by values.renewal_status"
    )
    modified: str = "hs_lastmodifieddate"


# A custom-object section and the `extras` fields holding the same records as company properties.
EXTRAS_OF = {"surveys": ("surveys",), "contracts": ("contract_start", "contract_end", "renewal_status")}
CUSTOM_SECTIONS = ("plans", "surveys", "contracts")


class ExtrasMap(Section):
    """Team, surveys and contracts as company properties in compact text forms."""

    team: str | None = Field(default="kam_account_team", description="`ownerId:role[:region];...`")
    surveys: str | None = Field(default="kam_surveys", description="`YYYY-MM-DD:csat|nps:score;...`")
    contract_start: str | None = "kam_contract_start_date"
    contract_end: str | None = "kam_contract_end_date"
    renewal_status: str | None = "kam_renewal_status"


def _meetings() -> EngagementMap:
    return EngagementMap(date="hs_meeting_start_time", subject="hs_meeting_title", body="hs_meeting_body")


def _calls() -> EngagementMap:
    return EngagementMap(
        date="hs_timestamp", subject="hs_call_title", body="hs_call_body", direction="hs_call_direction"
    )


def _emails() -> EngagementMap:
    return EngagementMap(
        date="hs_timestamp", subject="hs_email_subject", body="hs_email_text", direction="hs_email_direction"
    )


def _notes() -> EngagementMap:
    return EngagementMap(date="hs_timestamp", body="hs_note_body", gift_amount="kam_gift_amount")


class Mapping(Section):
    """The whole mapping file; `values` translates HubSpot option values to canonical ones."""

    companies: CompanyMap = Field(default_factory=CompanyMap)
    contacts: ContactMap = Field(default_factory=ContactMap)
    deals: DealMap = Field(default_factory=DealMap)
    meetings: EngagementMap = Field(default_factory=_meetings)
    calls: EngagementMap = Field(default_factory=_calls)
    emails: EngagementMap = Field(default_factory=_emails)
    notes: EngagementMap = Field(default_factory=_notes)
    tickets: TicketMap = Field(default_factory=TicketMap)
    plans: PlanMap | None = Field(default_factory=PlanMap)
    extras: ExtrasMap | None = Field(default_factory=ExtrasMap)
    surveys: SurveyMap | None = Field(default=None, description="surveys from a custom object")
    contracts: ContractMap | None = Field(default=None, description="contracts from a custom object")
    values: dict[str, dict[str, str]] = Field(default_factory=dict)
    # canonical kind -> canonical field -> how it is read, in the mapping language both CRMs share
    # (docs/mapping.md); it wins over what the sections above say for that field. `team` takes
    # one key, `each`: the account team composed from company properties (owner ids, roles).
    fields: dict[FieldKind, dict[str, str | Spec]] = Field(default_factory=dict)

    @field_validator("fields")
    @classmethod
    def _known_fields(cls, value: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        from kamrules.model import RECORD_KINDS

        for kind, specs in value.items():
            allowed = {"each"} if kind == "team" else set(RECORD_KINDS[kind].model_fields) - FIXED
            unknown = sorted(set(specs) - allowed)
            if unknown:
                raise ValueError(f"fields.{kind}: no canonical field {', '.join(unknown)};"
                                 f" valid: {', '.join(sorted(allowed))}")
        return value

    @field_validator("surveys", "contracts")
    @classmethod
    def _one_source(cls, value: Any, info: ValidationInfo) -> Any:
        """Records come from a custom object or from company properties, never from both."""
        extras = info.data.get("extras")
        if value is None or extras is None:
            return value
        named = [
            f for f in EXTRAS_OF[str(info.field_name)] if f in extras.model_fields_set and getattr(extras, f)
        ]
        if named:
            raise ValueError(
                f"{info.field_name} come from custom object {value.object}, and extras.{named[0]} names a"
                f" company property for them too: set extras.{named[0]} to null (one source each)"
            )
        return value

    @model_validator(mode="after")
    def _drop_replaced_extras(self) -> Mapping:
        """A custom-object section switches off the company-property defaults it replaces."""
        for section, fields in EXTRAS_OF.items():
            if getattr(self, section) is not None and self.extras is not None:
                self.extras = self.extras.model_copy(update=dict.fromkeys(fields))
        return self

    def properties(self, section: str) -> list[str]:
        """Every HubSpot property one object type's mapping reads (companies include plans etc.)."""
        parts: list[Section | None] = [getattr(self, section)]
        if section == "companies":
            parts += [self.plans if self.plans is not None and not self.plans.object else None, self.extras]
        names = {name for part in parts if part is not None for name in part.property_names()}
        return sorted(names | set(self.field_properties(section)))

    def field_properties(self, section: str) -> list[str]:
        """The properties the `fields:` section reads from one object type's records."""
        kinds = KINDS_OF.get(section, ())
        if section == "companies" and self.plans is not None and self.plans.object:
            kinds = tuple(k for k in kinds if k != "plans")
        if section in CUSTOM_SECTIONS:  # a custom object holding plans, surveys or contracts
            kinds = (section,)
        return sorted({n for k in kinds for spec in self.fields.get(k, {}).values()  # type: ignore[call-overload]
                       for n in as_spec(spec).names()})

    def custom_sources(self) -> dict[str, PlanMap | SurveyMap | ContractMap]:
        """Section -> its mapping, for each of plans, surveys and contracts read from a custom object."""
        out: dict[str, PlanMap | SurveyMap | ContractMap] = {}
        for section in CUSTOM_SECTIONS:
            spec = getattr(self, section)
            if spec is not None and spec.object:
                out[section] = spec
        return out


def load_mapping(path: str | None, base_dir: Path) -> tuple[Mapping, str]:
    """The mapping model and the file it came from; a bad file is a located config error."""
    from kamrules.errors import ValidationFailed
    from kamrules.inputs.boundary import parse_yaml
    from kamrules.inputs.yamlsrc import problems_from

    text, where = _mapping_text(path, base_dir)
    raw = parse_yaml(text, where) or {}
    try:
        return Mapping.model_validate(raw), where
    except Exception as exc:  # pydantic ValidationError, located in the mapping file
        from pydantic import ValidationError

        if isinstance(exc, ValidationError):
            raise ValidationFailed(problems_from(exc, raw, where, Mapping)) from None
        raise


def _mapping_text(path: str | None, base_dir: Path) -> tuple[str, str]:
    if path is not None:
        file = Path(path).expanduser()
        if not file.is_absolute():
            file = base_dir / file
        from kamrules.inputs.boundary import read_text

        return read_text(file), str(file)
    return shipped_file(DEFAULT_MAPPING)
