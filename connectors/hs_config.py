"""The `crm:` section for HubSpot and the property mapping it points to (both user-written)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from connectors.retry import RetrySettings
from connectors.secret import SecretRef

DEFAULT_MAPPING = "hubspot.mapping.yaml"


class HubSpotConfig(BaseModel):
    """`crm: {type: hubspot, ...}`: where HubSpot is, the token's source, the budget to keep to."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["hubspot"]
    access_token: SecretRef = Field(description="private-app access token: {env: NAME} or {file: path}")
    base_url: str = "https://api.hubapi.com"
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
        default=10.0, gt=0, description="the budget's window; leave at 10 (tests shorten it)"
    )
    incremental: bool = True
    lookback_minutes: int = Field(default=15, ge=0)
    full_refresh_days: int | None = Field(default=7, ge=0)
    timeout_seconds: float = Field(default=60.0, gt=0)
    retry: RetrySettings = Field(default_factory=RetrySettings)


CONFIG = HubSpotConfig


# --- the mapping: canonical field -> HubSpot property --------------------------------------------


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


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
    """Account-plan fields as company properties (one plan per company)."""

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
    values: dict[str, dict[str, str]] = Field(default_factory=dict)

    def properties(self, section: str) -> list[str]:
        """Every HubSpot property one object type's mapping reads (companies include plans etc.)."""
        parts: list[Section | None] = [getattr(self, section)]
        if section == "companies":
            parts += [self.plans, self.extras]
        names: list[str] = []
        for part in parts:
            if part is None:
                continue
            for field, value in part:
                if isinstance(value, str) and field != "key_account_value":
                    names.append(value)
        return sorted(set(names))


def load_mapping(path: str | None, base_dir: Path) -> tuple[Mapping, str]:
    """The mapping model and the file it came from; a bad file is a located config error."""
    from kamrules.errors import ValidationFailed
    from kamrules.yamlsrc import problems_from

    text, where = _mapping_text(path, base_dir)
    from ruamel.yaml import YAML

    raw = YAML(typ="rt").load(text) or {}
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
        return file.read_text(encoding="utf-8"), str(file)
    return shipped_file(DEFAULT_MAPPING)


def shipped_file(name: str) -> tuple[str, str]:
    """A file of the shipped `config/` folder: installed as `kamrules._config`, or beside the code."""
    try:
        from importlib.resources import files

        res = files("kamrules._config") / name
        return res.read_text(encoding="utf-8"), f"kamrules/_config/{name}"
    except (ModuleNotFoundError, FileNotFoundError, OSError):
        file = Path(__file__).resolve().parent.parent / "config" / name
        return file.read_text(encoding="utf-8"), str(file)
