"""A fake HubSpot on 127.0.0.1 for tests: the v3/v4 CRM endpoints kamrules uses, with HubSpot's
documented shapes (string property values, `paging.next.after`, 207 mixed batch results, 429
bodies with `policyName`, 401), a per-window call budget it enforces and counts like HubSpot,
and a loader that turns the canonical demo portfolio into HubSpot objects.
"""

from __future__ import annotations

import json
import random
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

TYPES = ("companies", "contacts", "deals", "meetings", "calls", "emails", "notes", "tickets", "tasks")
PRIMARY_COMPANY_TO_CONTACT = 2
UNLABELED = {
    "contacts": 280,
    "deals": 342,
    "tickets": 340,
    "meetings": 188,
    "calls": 182,
    "emails": 186,
    "notes": 190,
    "tasks": 192,
}
ROLE_OUT = {
    "decision_maker": "DECISION_MAKER",
    "economic_buyer": "BUDGET_HOLDER",
    "influencer": "INFLUENCER",
    "user": "END_USER",
    "gatekeeper": "BLOCKER",
}
CATEGORY_OUT = {
    "billing": "BILLING_ISSUE",
    "quality": "PRODUCT_ISSUE",
    "delivery": "DELIVERY_ISSUE",
    "it": "IT_ISSUE",
}
PRIORITY_OUT = {"low": "LOW", "medium": "MEDIUM", "high": "HIGH", "critical": "URGENT"}
DEALTYPE_OUT = {"new": "newbusiness", "upsell": "existingbusiness", "renewal": "renewal"}
TIER_OUT = {"major": "tier_1", "standard": "tier_2", "small": "tier_3"}
DEAL_STAGES = [
    ("appointmentscheduled", "Appointment scheduled", "false", "0.2"),
    ("presentationscheduled", "Proposal", "false", "0.6"),
    ("closedwon", "Closed Won", "true", "1.0"),
    ("closedlost", "Closed Lost", "true", "0.0"),
]
TICKET_STAGES = [("1", "New", "OPEN"), ("2", "Waiting on contact", "OPEN"), ("4", "Closed", "CLOSED")]
STANDARD = {
    "companies": [
        "name",
        "hubspot_owner_id",
        "hs_is_target_account",
        "hs_ideal_customer_profile",
        "industry",
        "annualrevenue",
        "domain",
        "createdate",
        "hs_lastmodifieddate",
        "hs_object_id",
    ],
    "contacts": [
        "firstname",
        "lastname",
        "jobtitle",
        "hs_buying_role",
        "email",
        "createdate",
        "lastmodifieddate",
        "hs_object_id",
    ],
    "deals": [
        "dealname",
        "dealstage",
        "pipeline",
        "amount",
        "dealtype",
        "createdate",
        "closedate",
        "hs_lastmodifieddate",
        "hs_object_id",
        "hubspot_owner_id",
    ],
    "meetings": [
        "hs_meeting_start_time",
        "hs_meeting_title",
        "hs_meeting_body",
        "hubspot_owner_id",
        "hs_timestamp",
        "hs_lastmodifieddate",
    ],
    "calls": [
        "hs_timestamp",
        "hs_call_title",
        "hs_call_body",
        "hs_call_direction",
        "hubspot_owner_id",
        "hs_lastmodifieddate",
    ],
    "emails": [
        "hs_timestamp",
        "hs_email_subject",
        "hs_email_text",
        "hs_email_direction",
        "hubspot_owner_id",
        "hs_lastmodifieddate",
    ],
    "notes": ["hs_timestamp", "hs_note_body", "hubspot_owner_id", "hs_lastmodifieddate"],
    "tickets": [
        "subject",
        "hs_ticket_priority",
        "hs_ticket_category",
        "hs_pipeline",
        "hs_pipeline_stage",
        "createdate",
        "closed_date",
        "hubspot_owner_id",
        "hs_lastmodifieddate",
    ],
    "tasks": [
        "hs_task_subject",
        "hs_task_body",
        "hs_task_status",
        "hs_task_priority",
        "hs_timestamp",
        "hubspot_owner_id",
        "hs_task_completion_date",
        "hs_createdate",
        "hs_lastmodifieddate",
    ],
}
CUSTOM = {
    "companies": [
        "kam_key_reason",
        "kam_regions",
        "kam_revenue_history",
        "kam_potential",
        "kam_customer_since",
        "kam_supplier_status",
        "kam_plan_horizon_years",
        "kam_plan_objectives",
        "kam_plan_objectives_reviewed",
        "kam_plan_customer_goals",
        "kam_plan_pain_points",
        "kam_plan_selection_criteria",
        "kam_plan_decision_process",
        "kam_plan_risk_reviewed",
        "kam_plan_risk_measures",
        "kam_plan_relationship_reviewed",
        "kam_account_team",
        "kam_surveys",
        "kam_contract_start_date",
        "kam_contract_end_date",
        "kam_renewal_status",
    ],
    "contacts": ["kam_department", "kam_region"],
    "notes": ["kam_gift_amount"],
    "tickets": ["kam_escalated"],
}
MODIFIED = {"contacts": "lastmodifieddate"}
PORTAL_ID = 4711123
# Custom objects load_portfolio can put plans, surveys and contracts in, instead of company
# properties: section -> (object name, plural label, its properties, the first is the display one).
CUSTOM_OBJECTS = {
    "plans": (
        "account_plans",
        "Account plans",
        [
            "plan_name",
            "horizon_years",
            "objectives",
            "objectives_reviewed",
            "customer_goals",
            "pain_points",
            "selection_criteria",
            "decision_process",
            "risk_reviewed",
            "risk_measures",
            "relationship_reviewed",
        ],
    ),
    "surveys": (
        "customer_surveys",
        "Customer surveys",
        ["survey_name", "survey_date", "survey_kind", "survey_score"],
    ),
    "contracts": (
        "kam_contracts",
        "Contracts",
        ["contract_name", "start_date", "end_date", "renewal_status"],
    ),
}
CUSTOM_STANDARD = ["hs_object_id", "hs_createdate", "hs_lastmodifieddate", "hubspot_owner_id"]


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _dt(day: Any) -> str | None:
    return None if day in (None, "") else f"{day}T10:00:00.000Z"


def _num(value: Any) -> str:
    if value is None:
        return ""
    number = float(value)
    return str(int(number)) if number.is_integer() else repr(number)


def _error(message: str, category: str, **extra: Any) -> dict[str, Any]:
    return {
        "status": "error",
        "message": message,
        "correlationId": str(uuid.uuid4()),
        "category": category,
        **extra,
    }


class FakeHubSpot:
    """State and rules of the fake portal; `start()` serves it on 127.0.0.1:<free port>."""

    def __init__(
        self,
        token: str = "pat-na1-fake-token",
        budget: int = 100,
        window: float = 10.0,
        search_per_second: int = 5,
        retry_after: str = "1",
    ):
        self.token = token
        self.budget, self.window = budget, window
        self.search_budget, self.search_window = search_per_second, window / 10.0
        self.retry_after = retry_after
        self.lock = threading.RLock()
        self.objects: dict[str, dict[str, dict[str, Any]]] = {t: {} for t in TYPES}
        self.links: dict[tuple[str, str], dict[str, dict[str, list[int]]]] = {}
        self.owners: list[dict[str, Any]] = []
        self.properties: dict[str, list[str]] = {t: STANDARD.get(t, []) + CUSTOM.get(t, []) for t in TYPES}
        self.schemas: dict[str, dict[str, Any]] = {}  # objectTypeId -> custom object schema
        self.calls: Counter[str] = Counter()
        self.writes = 0
        self.refused: Counter[str] = Counter()
        self.arrivals: deque[float] = deque()
        self.search_arrivals: deque[float] = deque()
        self.max_in_window = 0
        self.next_id = 10_000
        self.daily_after: int | None = None  # answer DAILY 429 once this many calls were served
        self.failures: list[tuple[str, int, dict[str, Any]]] = []  # (endpoint prefix, status, body)
        self.reject_create: Callable[[dict[str, Any]], str | None] | None = None
        self.server: ThreadingHTTPServer | None = None

    # --- lifecycle -----------------------------------------------------------------------------

    def start(self) -> str:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                return None

            def do_GET(self) -> None:  # noqa: N802
                fake.handle(self, "GET")

            def do_POST(self) -> None:  # noqa: N802
                fake.handle(self, "POST")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    # --- data ----------------------------------------------------------------------------------

    def new_id(self) -> str:
        self.next_id += 1
        return str(self.next_id)

    def add(self, kind: str, props: dict[str, Any], oid: str | None = None) -> str:
        oid = oid or self.new_id()
        stamp = now_iso()
        clean = {k: ("" if v is None else str(v)) for k, v in props.items()}
        clean.setdefault("createdate", stamp)
        clean["hs_createdate"] = clean.get("hs_createdate") or clean["createdate"]
        clean[MODIFIED.get(kind, "hs_lastmodifieddate")] = stamp
        clean["hs_object_id"] = oid
        self.objects[kind][oid] = {
            "id": oid,
            "properties": clean,
            "createdAt": clean["createdate"],
            "updatedAt": stamp,
            "archived": False,
        }
        return oid

    def update(self, kind: str, oid: str, props: dict[str, Any]) -> None:
        obj = self.objects[kind][oid]
        obj["properties"].update({k: ("" if v is None else str(v)) for k, v in props.items()})
        stamp = now_iso()
        obj["properties"][MODIFIED.get(kind, "hs_lastmodifieddate")] = stamp
        obj["updatedAt"] = stamp

    def link(
        self, from_kind: str, from_id: str, to_kind: str, to_id: str, types: list[int] | None = None
    ) -> None:
        """Associate two records; custom objects use their schema's association ids."""
        if types is None:
            types = [self.association_id(from_kind, to_kind)]
        self.links.setdefault((from_kind, to_kind), {}).setdefault(from_id, {})[to_id] = types
        back = self.links.setdefault((to_kind, from_kind), {}).setdefault(to_id, {})
        if from_kind in self.schemas or to_kind in self.schemas:
            back.setdefault(from_id, [self.association_id(to_kind, from_kind)])
        else:
            back.setdefault(from_id, [t + 1 if t % 2 == 0 else t - 1 for t in types])

    def define_object(self, name: str, plural: str, properties: list[str]) -> str:
        """A custom object (POST /crm/v3/schemas): its objectTypeId, associated with companies."""
        number = 7_000_001 + len(self.schemas)
        type_id = f"2-{number}"
        stamp = now_iso()
        self.objects[type_id] = {}
        self.properties[type_id] = CUSTOM_STANDARD + properties
        base = 100 + 2 * len(self.schemas)
        self.schemas[type_id] = {
            "id": str(number),
            "objectTypeId": type_id,
            "fullyQualifiedName": f"p{PORTAL_ID}_{name}",
            "name": name,
            "labels": {"singular": plural.rstrip("s"), "plural": plural},
            "metaType": "PORTAL_SPECIFIC",
            "primaryDisplayProperty": properties[0],
            "requiredProperties": [properties[0]],
            "searchableProperties": [properties[0]],
            "secondaryDisplayProperties": [],
            "archived": False,
            "createdAt": stamp,
            "updatedAt": stamp,
            "properties": [self._property(type_id, n) for n in properties],
            "associations": [
                {
                    "id": str(base),
                    "fromObjectTypeId": type_id,
                    "toObjectTypeId": "0-2",
                    "name": f"{name}_to_company",
                },
                {
                    "id": str(base + 1),
                    "fromObjectTypeId": "0-2",
                    "toObjectTypeId": type_id,
                    "name": f"company_to_{name}",
                },
            ],
        }
        return type_id

    def association_id(self, from_kind: str, to_kind: str) -> int:
        """The USER_DEFINED association type id a custom object's schema gives one direction."""
        custom = from_kind if from_kind in self.schemas else to_kind
        ids = {"companies": "0-2"}
        for a in self.schemas[custom]["associations"]:
            if a["fromObjectTypeId"] == ids.get(from_kind, from_kind) and a["toObjectTypeId"] == ids.get(
                to_kind, to_kind
            ):
                return int(a["id"])
        raise KeyError(f"no association between {from_kind} and {to_kind}")

    def kind_of(self, name: str) -> str | None:
        """The object type a path names: a standard name, or a custom object by any accepted name."""
        if name in TYPES:
            return name
        for type_id, schema in self.schemas.items():
            names = {type_id, schema["fullyQualifiedName"], f"p_{schema['name']}"}
            if name.casefold() in {n.casefold() for n in names}:
                return type_id
        return None

    def _property(self, kind: str, name: str) -> dict[str, Any]:
        return {
            "name": name,
            "label": name.replace("_", " ").title(),
            "type": "string",
            "fieldType": "text",
            "groupName": f"{kind}_information",
            "hubspotDefined": name in STANDARD.get(kind, []) or name in CUSTOM_STANDARD,
        }

    def load_portfolio(
        self, records: dict[str, list[dict[str, Any]]], custom: tuple[str, ...] = ()
    ) -> dict[str, dict[str, str]]:
        """The canonical demo portfolio as HubSpot objects; returns canonical id -> HubSpot id maps.

        `custom` names sections (plans, surveys, contracts) loaded as records of custom objects
        (`CUSTOM_OBJECTS`, their ids under "objects") instead of company properties.
        """
        users = {u["id"]: str(101 + i) for i, u in enumerate(records["users"])}
        for u in records["users"]:
            first, _, last = u["name"].partition(" ")
            self.owners.append(
                {
                    "id": users[u["id"]],
                    "email": u.get("email"),
                    "firstName": first,
                    "lastName": last,
                    "userId": int(users[u["id"]]) + 9000,
                    "archived": False,
                    "createdAt": now_iso(),
                    "updatedAt": now_iso(),
                }
            )

        def owner(uid: str | None) -> str:
            if uid is None:
                return ""
            if uid not in users:
                users[uid] = str(900 + len(users))  # a user HubSpot has no owner for
            return users[uid]

        plans = {p["account_id"]: p for p in records["plans"] if "plans" not in custom}
        team: dict[str, list[str]] = {}
        for t in records["team"]:
            team.setdefault(t["account_id"], []).append(
                ":".join([owner(t["user_id"]), t["role"]] + ([t["region"]] if t.get("region") else []))
            )
        surveys: dict[str, list[str]] = {}
        for s in records["surveys"] if "surveys" not in custom else []:
            surveys.setdefault(s["account_id"], []).append(
                f"{s['date']}:{s.get('kind', 'csat')}:{_num(s['score'])}"
            )
        contracts = {}
        for c in records["contracts"] if "contracts" not in custom else []:
            contracts.setdefault(c["account_id"], c)
        companies: dict[str, str] = {}
        for a in records["accounts"]:
            plan, contract = plans.get(a["id"], {}), contracts.get(a["id"], {})
            revenue = a.get("revenue") or []
            props = {
                "name": a["name"],
                "hubspot_owner_id": owner(a.get("owner_id")),
                "hs_is_target_account": "true" if a.get("is_key") else "false",
                "hs_ideal_customer_profile": TIER_OUT.get(a.get("tier") or "", a.get("tier")),
                "kam_key_reason": a.get("key_reason"),
                "industry": a.get("industry"),
                "kam_regions": ";".join(a.get("regions") or []),
                "annualrevenue": _num(revenue[-1]["amount"]) if revenue else "",
                "kam_revenue_history": ";".join(f"{p['year']}:{_num(p['amount'])}" for p in revenue),
                "kam_potential": _num(a.get("potential")),
                "kam_customer_since": a.get("customer_since"),
                "kam_supplier_status": a.get("preferred_supplier"),
                "kam_plan_horizon_years": _num(plan.get("horizon_years")),
                "kam_plan_objectives": plan.get("objectives"),
                "kam_plan_objectives_reviewed": plan.get("objectives_reviewed"),
                "kam_plan_customer_goals": plan.get("customer_goals"),
                "kam_plan_pain_points": plan.get("pain_points"),
                "kam_plan_selection_criteria": plan.get("selection_criteria"),
                "kam_plan_decision_process": plan.get("decision_process"),
                "kam_plan_risk_reviewed": plan.get("risk_reviewed"),
                "kam_plan_risk_measures": ";".join(
                    f"{m['kind']}@{m.get('reviewed') or ''}" for m in plan.get("risk_measures") or []
                ),
                "kam_plan_relationship_reviewed": plan.get("relationship_reviewed"),
                "kam_account_team": ";".join(team.get(a["id"], [])),
                "kam_surveys": ";".join(surveys.get(a["id"], [])),
                "kam_contract_start_date": contract.get("start_date"),
                "kam_contract_end_date": contract.get("end_date"),
                "kam_renewal_status": contract.get("renewal_status"),
            }
            companies[a["id"]] = self.add("companies", props)
        contacts: dict[str, str] = {}
        for c in records["contacts"]:
            first, _, last = c["name"].partition(" ")
            cid = self.add(
                "contacts",
                {
                    "firstname": first,
                    "lastname": last,
                    "jobtitle": c.get("title"),
                    "kam_department": c.get("department"),
                    "hs_buying_role": ROLE_OUT.get(c.get("buying_role") or "", c.get("buying_role")),
                    "kam_region": c.get("region"),
                    "createdate": _dt(c.get("created")),
                },
            )
            contacts[c["id"]] = cid
            types = [UNLABELED["contacts"]] + ([PRIMARY_COMPANY_TO_CONTACT] if c.get("is_primary") else [])
            self.link("companies", companies[c["account_id"]], "contacts", cid, types)
        stage_of = {label: sid for sid, label, _, _ in DEAL_STAGES}
        for d in records["deals"]:
            did = self.add(
                "deals",
                {
                    "dealname": d.get("name"),
                    "pipeline": "default",
                    "dealstage": stage_of[d["stage"]],
                    "amount": _num(d.get("amount")),
                    "dealtype": DEALTYPE_OUT[d.get("type", "new")],
                    "createdate": _dt(d["created"]),
                    "closedate": _dt(d.get("close_date")),
                },
            )
            self.link("companies", companies[d["account_id"]], "deals", did, [UNLABELED["deals"]])
        for a in records["activities"]:
            kind, props = self._activity(a, owner)
            aid = self.add(kind, props)
            self.link("companies", companies[a["account_id"]], kind, aid, [UNLABELED[kind]])
            for c in a.get("contact_ids") or []:
                if c in contacts:
                    self.link(kind, aid, "contacts", contacts[c], [UNLABELED[kind] + 10])
        for c in records["cases"]:
            tid = self.add(
                "tickets",
                {
                    "subject": c.get("subject"),
                    "hs_pipeline": "0",
                    "hs_pipeline_stage": "4" if c.get("closed") else "1",
                    "hs_ticket_priority": PRIORITY_OUT[c.get("priority", "medium")],
                    "hs_ticket_category": CATEGORY_OUT.get(c.get("category") or "", c.get("category")),
                    "createdate": _dt(c["opened"]),
                    "closed_date": _dt(c.get("closed")),
                    "hubspot_owner_id": owner(c.get("owner_id")),
                    "kam_escalated": "true" if c.get("escalated") else "false",
                },
            )
            self.link("companies", companies[c["account_id"]], "tickets", tid, [UNLABELED["tickets"]])
        objects = {section: self._load_custom(section, records[section], companies) for section in custom}
        return {"accounts": companies, "users": users, "contacts": contacts, "objects": objects}

    def _load_custom(
        self, section: str, rows: list[dict[str, Any]], companies: dict[str, str]
    ) -> dict[str, str]:
        """One section's records as a new custom object's records; returns its name, id and type."""
        name, plural, props = CUSTOM_OBJECTS[section]
        type_id = self.define_object(name, plural, props)
        for i, row in enumerate(rows):
            values = {props[0]: f"{plural[:-1]} {i + 1}", **_custom_values(section, row)}
            oid = self.add(type_id, values)
            self.link("companies", companies[row["account_id"]], type_id, oid)
        return {"type_id": type_id, "name": f"p_{name}", "fqn": f"p{PORTAL_ID}_{name}"}

    @staticmethod
    def _activity(a: dict[str, Any], owner: Callable[[str | None], str]) -> tuple[str, dict[str, Any]]:
        when, who = _dt(a["date"]), owner(a.get("owner_id"))
        if a["type"] == "meeting":
            return "meetings", {
                "hs_meeting_start_time": when,
                "hs_timestamp": when,
                "hubspot_owner_id": who,
                "hs_meeting_title": a.get("subject"),
                "hs_meeting_body": a.get("body"),
            }
        if a["type"] == "call":
            return "calls", {
                "hs_timestamp": when,
                "hs_call_title": a.get("subject"),
                "hubspot_owner_id": who,
                "hs_call_body": a.get("body"),
                "hs_call_direction": "INBOUND" if a.get("direction") == "inbound" else "OUTBOUND",
            }
        if a["type"] == "email":
            return "emails", {
                "hs_timestamp": when,
                "hs_email_subject": a.get("subject"),
                "hubspot_owner_id": who,
                "hs_email_text": a.get("body"),
                "hs_email_direction": "INCOMING_EMAIL" if a.get("direction") == "inbound" else "EMAIL",
            }
        return "notes", {
            "hs_timestamp": when,
            "hs_note_body": a.get("body"),
            "hubspot_owner_id": who,
            "kam_gift_amount": _num(a.get("amount")) if a["type"] == "gift" else "",
        }

    def tasks(self) -> list[dict[str, Any]]:
        return list(self.objects["tasks"].values())

    def backdate(self, seconds: float) -> None:
        """Every record's last modification moved `seconds` into the past (a portal older than the run)."""
        for kind, objs in self.objects.items():
            if kind == "tasks":
                continue
            name = MODIFIED.get(kind, "hs_lastmodifieddate")
            for obj in objs.values():
                stamp = datetime.fromisoformat(obj["properties"][name].replace("Z", "+00:00"))
                old = (stamp - timedelta(seconds=seconds)).isoformat(timespec="milliseconds")
                obj["properties"][name] = obj["updatedAt"] = old.replace("+00:00", "Z")

    def modify_share(self, kinds: tuple[str, ...], share: float, seed: int) -> dict[str, list[str]]:
        """Edit one property of a random `share` of each kind's records (at least one), as users would.

        Deterministic for a seed and portal; every edit stamps the record's modification date.
        Returns the edited ids by kind.
        """
        rng = random.Random(seed)
        edited: dict[str, list[str]] = {}
        for kind in kinds:
            ids = sorted(self.objects[kind], key=int)
            if not ids:
                continue
            chosen = sorted(rng.sample(ids, max(1, round(len(ids) * share))), key=int)
            for oid in chosen:
                self.update(kind, oid, _edit(kind, self.objects[kind][oid]["properties"], rng))
            edited[kind] = chosen
        return edited

    def complete_task(self, oid: str, day: str) -> None:
        """What an account manager does by hand in HubSpot."""
        self.update("tasks", oid, {"hs_task_status": "COMPLETED", "hs_task_completion_date": _dt(day)})

    # --- HTTP ----------------------------------------------------------------------------------

    def handle(self, req: BaseHTTPRequestHandler, method: str) -> None:
        url = urlparse(req.path)
        length = int(req.headers.get("Content-Length") or 0)
        raw = req.rfile.read(length) if length else b""
        with self.lock:
            status, body, headers = self.route(
                method, url.path, parse_qs(url.query), raw, req.headers.get("Authorization", "")
            )
        data = json.dumps(body).encode()
        req.send_response(status)
        req.send_header("Content-Type", "application/json;charset=utf-8")
        req.send_header("Content-Length", str(len(data)))
        for k, v in headers.items():
            req.send_header(k, v)
        req.end_headers()
        req.wfile.write(data)

    def route(
        self, method: str, path: str, query: dict[str, list[str]], raw: bytes, auth: str
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        endpoint = self._endpoint(method, path)
        self.calls[endpoint] += 1
        if auth != f"Bearer {self.token}":
            return (
                401,
                _error(
                    "Authentication credentials not found. This API supports OAuth 2.0"
                    " authentication and you can find more details at"
                    " https://developers.hubspot.com/docs/methods/auth/oauth-overview",
                    "INVALID_AUTHENTICATION",
                ),
                {},
            )
        now = time.monotonic()
        if self.daily_after is not None and sum(self.calls.values()) > self.daily_after:
            self.refused["DAILY"] += 1
            return (
                429,
                {
                    "status": "error",
                    "message": "You have reached your daily limit.",
                    "errorType": "RATE_LIMIT",
                    "correlationId": str(uuid.uuid4()),
                    "policyName": "DAILY",
                    "groupName": "api",
                },
                {},
            )
        while self.arrivals and self.arrivals[0] <= now - self.window:
            self.arrivals.popleft()
        if len(self.arrivals) >= self.budget:
            self.refused["TEN_SECONDLY_ROLLING"] += 1
            return (
                429,
                {
                    "status": "error",
                    "message": "You have reached your ten_secondly_rolling limit.",
                    "errorType": "RATE_LIMIT",
                    "correlationId": str(uuid.uuid4()),
                    "policyName": "TEN_SECONDLY_ROLLING",
                    "groupName": "publicapi:private-app",
                },
                {"Retry-After": self.retry_after},
            )
        self.arrivals.append(now)
        self.max_in_window = max(self.max_in_window, len(self.arrivals))
        if path.endswith("/search"):
            while self.search_arrivals and self.search_arrivals[0] <= now - self.search_window:
                self.search_arrivals.popleft()
            if len(self.search_arrivals) >= self.search_budget:
                self.refused["SECONDLY"] += 1
                return (
                    429,
                    {
                        "status": "error",
                        "message": "You have reached your secondly limit.",
                        "errorType": "RATE_LIMIT",
                        "correlationId": str(uuid.uuid4()),
                        "policyName": "SECONDLY",
                    },
                    {"Retry-After": self.retry_after},
                )
            self.search_arrivals.append(now)
        for i, (prefix, status, body) in enumerate(self.failures):
            if endpoint.startswith(prefix):
                del self.failures[i]
                return status, body, {}
        try:
            payload = json.loads(raw) if raw else {}
        except ValueError:
            return 400, _error("Invalid input JSON", "VALIDATION_ERROR"), {}
        return self.dispatch(method, path.strip("/").split("/"), query, payload)

    @staticmethod
    def _endpoint(method: str, path: str) -> str:
        parts = path.strip("/").split("/")
        if len(parts) == 6 and parts[:2] == ["crm", "v4"] and parts[2] == "objects":
            parts[4] = "{id}"
        return f"{method} /{'/'.join(parts)}"

    def dispatch(
        self, method: str, parts: list[str], query: dict[str, list[str]], payload: dict[str, Any]
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        if parts in (["crm-object-schemas", "v3", "schemas"], ["crm", "v3", "schemas"]) and method == "GET":
            return 200, {"results": list(self.schemas.values())}, {}
        if parts[:3] in (
            ["crm", "v3", "objects"],
            ["crm", "v3", "properties"],
            ["crm", "v4", "associations"],
        ):
            named = parts[3:5] if parts[1] == "v4" else parts[3:4]
            kinds = [self.kind_of(n) for n in named]
            unknown = next((n for n, k in zip(named, kinds, strict=True) if k is None), None)
            if unknown is not None:
                return 400, _error(f"Unable to infer object type from: {unknown}", "VALIDATION_ERROR"), {}
            parts = [*parts[:3], *[k for k in kinds if k], *parts[3 + len(named) :]]
        if parts[:3] == ["crm", "v3", "objects"] and len(parts) == 4 and method == "GET":
            return self.list_page(parts[3], query)
        if parts[:3] == ["crm", "v3", "objects"] and len(parts) == 6 and parts[4] == "batch":
            return {"read": self.batch_read, "create": self.batch_create, "update": self.batch_update}[
                parts[5]
            ](parts[3], payload)
        if parts[:3] == ["crm", "v3", "objects"] and len(parts) == 5 and parts[4] == "search":
            return self.search(parts[3], payload)
        if parts[:3] == ["crm", "v4", "associations"] and parts[5:] == ["batch", "read"]:
            return self.assoc_read(parts[3], parts[4], payload)
        if parts == ["crm", "v3", "owners"]:
            return self.page(self.owners, query, 500)
        if parts[:3] == ["crm", "v3", "properties"]:
            return 200, {"results": [self._property(parts[3], n) for n in self.properties[parts[3]]]}, {}
        if parts[:3] == ["crm", "v3", "pipelines"]:
            return 200, self.pipelines(parts[3]), {}
        return 404, _error(f"Unknown endpoint {'/'.join(parts)}", "OBJECT_NOT_FOUND"), {}

    def page(
        self, items: list[dict[str, Any]], query: dict[str, list[str]], cap: int
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        limit = int((query.get("limit") or ["10"])[0])
        if limit > cap:
            return 400, _error(f"limit must be at most {cap}", "VALIDATION_ERROR"), {}
        start = int((query.get("after") or ["0"])[0])
        body: dict[str, Any] = {"results": items[start : start + limit]}
        if start + limit < len(items):
            body["paging"] = {"next": {"after": str(start + limit), "link": "?after=" + str(start + limit)}}
        return 200, body, {}

    def _view(self, kind: str, obj: dict[str, Any], props: list[str]) -> dict[str, Any]:
        wanted = set(props) | {"hs_object_id", "createdate", MODIFIED.get(kind, "hs_lastmodifieddate")}
        known = set(self.properties.get(kind, []))
        shown = {p: obj["properties"].get(p) or None for p in wanted if p in known or p in obj["properties"]}
        return {**obj, "properties": shown}

    def _props(self, query: dict[str, list[str]]) -> list[str]:
        return [p for v in query.get("properties", []) for p in v.split(",") if p]

    def list_page(self, kind: str, query: dict[str, list[str]]) -> tuple[int, dict[str, Any], dict[str, str]]:
        props = self._props(query)
        objs = [
            self._view(kind, o, props) for _, o in sorted(self.objects[kind].items(), key=lambda i: int(i[0]))
        ]
        return self.page(objs, query, 100)

    def batch_read(self, kind: str, payload: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
        inputs = payload.get("inputs", [])
        if len(inputs) > 100:
            return 400, _error("Batch input must be at most 100 items", "VALIDATION_ERROR"), {}
        results, missing = [], []
        for item in inputs:
            obj = self.objects[kind].get(str(item["id"]))
            if obj is None:
                missing.append(str(item["id"]))
            else:
                results.append(self._view(kind, obj, payload.get("properties") or []))
        body = self._batch_body(results)
        if missing:
            body["errors"] = [
                {
                    "status": "error",
                    "category": "OBJECT_NOT_FOUND",
                    "message": "Could not get some objects, they may be deleted or not exist.",
                    "context": {"ids": missing},
                }
            ]
            body["numErrors"] = 1
            return 207, body, {}
        return 200, body, {}

    @staticmethod
    def _batch_body(results: list[dict[str, Any]]) -> dict[str, Any]:
        stamp = now_iso()
        return {"status": "COMPLETE", "results": results, "startedAt": stamp, "completedAt": stamp}

    def batch_create(self, kind: str, payload: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
        inputs = payload.get("inputs", [])
        if len(inputs) > 100:
            return 400, _error("Batch input must be at most 100 items", "VALIDATION_ERROR"), {}
        results, errors = [], []
        for item in inputs:
            props = item.get("properties") or {}
            problem = self.reject_create(props) if self.reject_create else None
            if kind == "tasks" and not props.get("hs_timestamp"):
                problem = "Property values were not valid: hs_timestamp is required"
            targets = [(a["to"]["id"], a["types"]) for a in item.get("associations", [])]
            for to_id, types in targets:
                if (
                    not any(t.get("associationTypeId") == 192 for t in types)
                    or str(to_id) not in self.objects["companies"]
                ):
                    problem = f"association to company {to_id} is not valid"
            if problem:
                errors.append(
                    {
                        "status": "error",
                        "category": "VALIDATION_ERROR",
                        "message": problem,
                        "context": {"properties": sorted(props)[:3]},
                    }
                )
                continue
            oid = self.add(kind, props)
            for to_id, _ in targets:
                self.link(kind, oid, "companies", str(to_id), [192])
            results.append(self._view(kind, self.objects[kind][oid], list(props)))
        self.writes += 1
        body = self._batch_body(results)
        if errors:
            body.update(errors=errors, numErrors=len(errors))
            return 207, body, {}
        return 201, body, {}

    def batch_update(self, kind: str, payload: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
        inputs = payload.get("inputs", [])
        if len(inputs) > 100:
            return 400, _error("Batch input must be at most 100 items", "VALIDATION_ERROR"), {}
        results, missing = [], []
        for item in inputs:
            oid = str(item["id"])
            if oid not in self.objects[kind]:
                missing.append(oid)
                continue
            props = dict(item.get("properties") or {})
            if props.get("hs_task_status") == "COMPLETED" and not props.get("hs_task_completion_date"):
                props["hs_task_completion_date"] = now_iso()
            self.update(kind, oid, props)
            results.append(self._view(kind, self.objects[kind][oid], list(props)))
        self.writes += 1
        body = self._batch_body(results)
        if missing:
            body.update(
                numErrors=1,
                errors=[
                    {
                        "status": "error",
                        "category": "OBJECT_NOT_FOUND",
                        "message": "resource not found",
                        "context": {"ids": missing},
                    }
                ],
            )
            return 207, body, {}
        return 200, body, {}

    def assoc_read(
        self, from_kind: str, to_kind: str, payload: dict[str, Any]
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        inputs = payload.get("inputs", [])
        if len(inputs) > 1000:
            return 400, _error("Batch input must be at most 1000 items", "VALIDATION_ERROR"), {}
        links = self.links.get((from_kind, to_kind), {})
        custom = from_kind in self.schemas or to_kind in self.schemas
        results, errors = [], []
        for item in inputs:
            fid = str(item["id"])
            if not links.get(fid):
                errors.append(
                    {
                        "status": "error",
                        "category": "OBJECT_NOT_FOUND",
                        "subCategory": "crm.associations.NO_ASSOCIATIONS_FOUND",
                        "context": {"fromObjectId": [fid], "toObjectType": [to_kind]},
                        "message": f"No {to_kind} is associated with {from_kind} {fid}.",
                    }
                )
                continue
            results.append(
                {
                    "from": {"id": fid},
                    "to": [
                        {
                            "toObjectId": int(tid),
                            "associationTypes": [
                                {
                                    "category": "USER_DEFINED" if custom else "HUBSPOT_DEFINED",
                                    "typeId": t,
                                    "label": "Primary" if t in (1, 2) and not custom else None,
                                }
                                for t in types
                            ],
                        }
                        for tid, types in sorted(links[fid].items(), key=lambda i: int(i[0]))
                    ],
                }
            )
        body = self._batch_body(results)
        if errors:
            body.update(errors=errors, numErrors=len(errors))
            return 207, body, {}
        return 200, body, {}

    def search(self, kind: str, payload: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
        limit, after = int(payload.get("limit", 10)), int(payload.get("after") or 0)
        if limit > 200:
            return 400, _error("limit must be at most 200", "VALIDATION_ERROR"), {}
        if after + limit > 10_000:
            return (
                400,
                _error(
                    "There was a problem with the request: the search returns at most 10,000"
                    " results (after + limit)",
                    "VALIDATION_ERROR",
                ),
                {},
            )
        rows = list(self.objects[kind].values())
        groups = payload.get("filterGroups") or []
        if groups:
            rows = [r for r in rows if any(all(_matches(r, f) for f in g.get("filters", [])) for g in groups)]
        for sort in reversed(payload.get("sorts") or []):
            name = sort["propertyName"]
            rows.sort(
                key=lambda r, n=name: _sort_key(r["properties"].get(n)),
                reverse=sort.get("direction") == "DESCENDING",
            )
        props = payload.get("properties") or []
        page = [self._view(kind, r, props) for r in rows[after : after + limit]]
        body: dict[str, Any] = {"total": len(rows), "results": page}
        if after + limit < len(rows):
            body["paging"] = {"next": {"after": str(after + limit)}}
        return 200, body, {}

    def pipelines(self, kind: str) -> dict[str, Any]:
        if kind == "deals":
            stages = [
                {
                    "id": sid,
                    "label": label,
                    "displayOrder": i,
                    "archived": False,
                    "metadata": {"isClosed": closed, "probability": prob},
                }
                for i, (sid, label, closed, prob) in enumerate(DEAL_STAGES)
            ]
            return {
                "results": [
                    {
                        "id": "default",
                        "label": "Sales Pipeline",
                        "displayOrder": 0,
                        "archived": False,
                        "stages": stages,
                    }
                ]
            }
        stages = [
            {
                "id": sid,
                "label": label,
                "displayOrder": i,
                "archived": False,
                "metadata": {"ticketState": state, "isClosed": "true" if state == "CLOSED" else "false"},
            }
            for i, (sid, label, state) in enumerate(TICKET_STAGES)
        ]
        return {
            "results": [
                {
                    "id": "0",
                    "label": "Support Pipeline",
                    "displayOrder": 0,
                    "archived": False,
                    "stages": stages,
                }
            ]
        }


def _custom_values(section: str, row: dict[str, Any]) -> dict[str, Any]:
    """A canonical plan, survey or contract as the properties of its custom object."""
    if section == "surveys":
        return {
            "survey_date": row["date"],
            "survey_kind": str(row.get("kind", "csat")).upper(),
            "survey_score": _num(row["score"]),
        }
    if section == "contracts":
        return {
            "start_date": row.get("start_date"),
            "end_date": row["end_date"],
            "renewal_status": str(row.get("renewal_status") or "none").upper(),
        }
    plan = {k: v for k, v in row.items() if k != "account_id"}
    plan["horizon_years"] = _num(plan.get("horizon_years"))
    plan["risk_measures"] = ";".join(
        f"{m['kind']}@{m.get('reviewed') or ''}" for m in plan.get("risk_measures") or []
    )
    return plan


def _millis(value: Any) -> float:
    if value in (None, ""):
        return float("-inf")
    text = str(value)
    if text.replace(".", "").isdigit():
        return float(text)
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000


def _sort_key(value: Any) -> tuple[int, Any]:
    try:
        return (0, _millis(value))
    except ValueError:
        return (1, str(value))


def _matches(row: dict[str, Any], f: dict[str, Any]) -> bool:
    value = row["properties"].get(f["propertyName"])
    op = f["operator"]
    if op == "HAS_PROPERTY":
        return value not in (None, "")
    if op == "NOT_HAS_PROPERTY":
        return value in (None, "")
    if op == "EQ":
        return str(value) == str(f.get("value"))
    if op in ("GTE", "GT", "LTE", "LT"):
        a, b = _millis(value), _millis(f.get("value"))
        return {"GTE": a >= b, "GT": a > b, "LTE": a <= b, "LT": a < b}[op]
    if op == "CONTAINS_TOKEN":
        return str(f.get("value", "")).lower() in str(value or "").lower().split()
    raise ValueError(f"operator {op} not supported by the fake")


def _edit(kind: str, props: dict[str, Any], rng: random.Random) -> dict[str, str]:
    """One user-like property edit of a record of `kind`."""
    if kind == "contacts":
        return {"hs_buying_role": rng.choice(["", *ROLE_OUT.values()])}
    if kind == "deals":
        return {"dealstage": rng.choice([sid for sid, *_ in DEAL_STAGES])}
    if kind == "tickets":
        return {"hs_ticket_priority": rng.choice(list(PRIORITY_OUT.values())), "kam_escalated": "false"}
    field = {"meetings": "hs_meeting_body", "calls": "hs_call_body", "emails": "hs_email_text"}
    return {field.get(kind, "hs_note_body"): f"edited {rng.randrange(1_000_000)}"}


RELATED = ("contacts", "deals", "meetings", "calls", "emails", "notes", "tickets")
ENGAGEMENT_TYPES = ("meetings", "calls", "emails", "notes")
# HubSpot's largest page and batch sizes (developers.hubspot.com), independent of the connector's own.
LIST_PAGE, BATCH, ASSOC_BATCH, SEARCH_PAGE, OWNER_PAGE = 100, 100, 1000, 200, 500


def linked_ids(fake: FakeHubSpot, custom: tuple[str, ...] = ()) -> dict[str, set[str]]:
    """Per related type (and custom object type read), the ids of the records associated with some company."""
    return {
        t: {o for c in fake.links.get(("companies", t), {}).values() for o in c} for t in (*RELATED, *custom)
    }


def minimal_calls(
    fake: FakeHubSpot,
    created: int,
    tasks_before: int = 0,
    *,
    updated: int = 0,
    changed: dict[str, int] | None = None,
    uncached: dict[str, int] | None = None,
    custom: tuple[str, ...] = (),
) -> dict[str, int]:
    """The fewest calls a run can make at HubSpot's largest page and batch sizes, by step.

    A full run (`changed` None) lists the companies and batch-reads every associated record. An
    incremental run instead searches each type for its `changed` records (one page of 200 even
    when nothing changed) and batch-reads only the `uncached` ones: records newly associated with
    a company that neither the cache nor the search delta holds. Both read every company's
    associations and every engagement's contacts: HubSpot has no association change feed (v4
    association reads take no date filter, and an association change does not in general touch
    either record's modification date), so a run that keeps accounts whole must re-read them.
    Both read the metadata (8 property lists, 2 pipelines, owners by 500), read back every task
    in the portal (list pages of 100: the list is consistent where search lags) and write
    `created` and `updated` (updates and closes) tasks in batches of 100. `custom` custom object
    types (plans, surveys, contracts) are read like related types, after one schemas call and
    their property lists; with none, nothing changes.
    """

    def up(n: int, size: int) -> int:
        return -(-n // size)

    companies = len(fake.objects["companies"])
    kinds = (*RELATED, *custom)
    linked = {t: len(ids) for t, ids in linked_ids(fake, custom).items()}
    metadata = len(kinds) + 1 + 2 + up(len(fake.owners), OWNER_PAGE)  # property lists, pipelines
    metadata += 1 if custom else 0  # the schemas, to resolve the mapping's custom objects
    steps = {"metadata (properties, pipelines, owners)": metadata}
    if changed is None:
        steps["company pages (100)"] = up(companies, LIST_PAGE)
    else:
        steps["search pages (200)"] = sum(
            max(1, up(changed.get(t, 0), SEARCH_PAGE)) for t in ("companies", *kinds)
        )
    steps["company associations (1,000)"] = len(kinds) * up(companies, ASSOC_BATCH)
    reads = linked if changed is None else (uncached or {})
    steps["batch reads (100)"] = sum(up(n, BATCH) for n in reads.values())
    steps["engagement-contact associations (1,000)"] = sum(
        up(linked[t], ASSOC_BATCH) for t in ENGAGEMENT_TYPES
    )
    steps["task list pages (100)"] = max(1, up(tasks_before, LIST_PAGE))
    steps["task batch creates (100)"] = up(created, BATCH)
    steps["task batch updates (100)"] = up(updated, BATCH)
    return steps
