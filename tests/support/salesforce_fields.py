"""Field metadata and Account updates for the fake Salesforce org, in the REST API's shapes:
describe field entries (type, updateable, calculated, length, precision, scale, digits, picklist
values) and sObject Collections per-record errors (INVALID_FIELD, INVALID_FIELD_FOR_INSERT_UPDATE,
STRING_TOO_LONG, NUMBER_OUTSIDE_VALID_RANGE, INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST, ...)."""

from __future__ import annotations

from datetime import date
from typing import Any

HEALTH = {"health": "KAM_Health__c", "worst_severity": "KAM_Worst_Severity__c",
          "open_findings": "KAM_Open_Findings__c", "last_evaluated": "KAM_Last_Evaluated__c"}
SEVERITIES = ["info", "low", "medium", "high", "critical"]


def field_meta(name: str, kind: str, **extra: Any) -> dict[str, Any]:
    """One describe field entry as Salesforce answers it for a custom field."""
    meta: dict[str, Any] = {"name": name, "type": kind, "custom": name.endswith("__c"),
                            "updateable": True, "createable": True, "calculated": False,
                            "nillable": True, "length": 0, "precision": 0, "scale": 0,
                            "digits": 0, "picklistValues": [], "restrictedPicklist": False}
    if kind in ("string", "textarea"):
        meta["length"] = 255
    meta.update(extra)
    return meta


def add_field(org: Any, obj: str, name: str, kind: str, **extra: Any) -> None:
    org.fields.setdefault(obj, set()).add(name)
    org.meta.setdefault(obj, {})[name] = field_meta(name, kind, **extra)


def add_health_fields(org: Any, **override: dict[str, Any]) -> None:
    """The four Account fields an admin creates for `health_fields:` (HEALTH names)."""
    shapes: dict[str, tuple[str, dict[str, Any]]] = {
        "health": ("double", {"precision": 3, "scale": 0}),
        "worst_severity": ("picklist", {"restrictedPicklist": True, "picklistValues": [
            {"value": s, "label": s.title(), "active": True, "defaultValue": False}
            for s in SEVERITIES]}),
        "open_findings": ("double", {"precision": 5, "scale": 0}),
        "last_evaluated": ("date", {}),
    }
    for key, name in HEALTH.items():
        kind, extra = shapes[key]
        extra = {**extra, **override.get(key, {})}
        add_field(org, "Account", name, extra.pop("type", kind), **extra)


def _error(code: str, message: str, fields: list[str]) -> dict[str, Any]:
    return {"id": None, "success": False, "errors": [
        {"statusCode": code, "message": message, "fields": fields}]}


def _invalid(meta: dict[str, Any], name: str, value: Any) -> tuple[str, str] | None:
    """Why Salesforce refuses this value for the field, or None."""
    if value is None:
        return None
    kind = meta.get("type")
    if kind in ("double", "int", "percent", "currency"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            return "INVALID_TYPE_ON_FIELD_IN_RECORD", f"{name}: value not of required type: {value}"
        digits = (meta.get("digits") if kind == "int" else meta["precision"] - meta["scale"])
        if abs(value) >= 10 ** digits:
            return ("NUMBER_OUTSIDE_VALID_RANGE",
                    f"{name}: value outside of valid range on numeric field: {value}")
    elif kind in ("string", "textarea", "picklist") and (
            len(str(value).encode("utf-16-le", "surrogatepass")) // 2 > (meta.get("length") or 255)):
        return "STRING_TOO_LONG", f"{name}: data value too large: {value} (max length={meta['length']})"
    if kind == "picklist" and meta.get("restrictedPicklist") and value not in {
            v["value"] for v in meta["picklistValues"] if v.get("active")}:
        return ("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                f"{name}: bad value for restricted picklist field: {value}")
    if kind == "date":
        try:
            date.fromisoformat(str(value))
        except ValueError:
            return "INVALID_TYPE_ON_FIELD_IN_RECORD", f"{name}: value not of required type: {value}"
    return None


def update_account(org: Any, fields: dict[str, Any], now: str) -> dict[str, Any]:
    """PATCH one Account record of a collection: the per-record result Salesforce gives."""
    rid = str(fields.get("Id"))
    changes = {k: v for k, v in fields.items() if k != "Id"}
    unknown = [k for k in changes if k not in org.fields["Account"]]
    if unknown:
        return _error("INVALID_FIELD", f"No such column '{unknown[0]}' on sobject of type Account",
                      unknown)
    meta = org.meta.get("Account", {})
    locked = [k for k in changes if k in meta and (not meta[k]["updateable"] or meta[k]["calculated"])]
    if locked:
        return _error("INVALID_FIELD_FOR_INSERT_UPDATE",
                      f"Unable to create/update fields: {', '.join(locked)}. Please check the security"
                      " settings of this field and verify that it is read/write for your profile or"
                      " permission set.", locked)
    for k, v in changes.items():
        bad = _invalid(meta[k], k, v) if k in meta else None
        if bad:
            return _error(*bad, [k])
    rejected = org.reject(fields)
    if rejected:
        return {"id": rid, "success": False, "errors": [rejected]}
    account = org.by_id("Account", rid)
    if account is None or account.get("IsDeleted"):
        return _error("ENTITY_IS_DELETED", "entity is deleted", [])
    for k, v in changes.items():
        kind = meta.get(k, {}).get("type")
        account[k] = float(v) if kind in ("double", "percent", "currency") and v is not None else v
    account.update(SystemModstamp=now, LastModifiedDate=now)
    return {"id": rid, "success": True, "errors": []}
