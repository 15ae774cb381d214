"""An in-memory Salesforce org served over TLS on 127.0.0.1, answering with the REST API's
documented shapes: query pages with nextRecordsUrl (children paged on their own), describe,
sObject Collections with per-record results, Bulk API 2.0 query jobs, Sforce-Limit-Info on every
response, and injectable 401 INVALID_SESSION_ID, 403 REQUEST_LIMIT_EXCEEDED, 5xx and record errors.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import re
import ssl
import threading
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from kamrules.connectors.salesforce.mapping import FieldSpec, load_mapping
from tests.support.salesforce_fields import update_account
from tests.support.soql import Parser, Query

CHILD_FK = {"TaskWhoRelations": ("TaskWhoRelation", "TaskId"),
            "EventWhoRelations": ("EventWhoRelation", "EventId"),
            "Risk_Measures__r": ("KAM_Risk_Measure__c", "Plan__c")}
# lookup fields: object -> {field: (relationship name, object it refers to)}
REFERENCES = {"OpportunityContactRole": {"OpportunityId": ("Opportunity", "Opportunity"),
                                         "ContactId": ("Contact", "Contact")},
              "Opportunity": {"AccountId": ("Account", "Account")},
              "Contact": {"AccountId": ("Account", "Account")}}
DOTTED = re.compile(r"'(?:[^'\\]|\\.)*'|\b([A-Za-z_]\w*\.[A-Za-z_][\w.]*)")
STANDARD = ["Id", "SystemModstamp", "IsDeleted", "CreatedDate", "LastModifiedDate", "Name"]
TASK_FIELDS = ["Subject", "Description", "WhatId", "WhoId", "OwnerId", "ActivityDate", "Priority",
               "Status", "IsClosed", "CompletedDateTime", "AccountId", "Type"]
OLD_STAMP = "2026-01-01T00:00:00.000+0000"


def sf_time(moment: datetime | None = None) -> str:
    return (moment or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def error(status: int, code: str, message: str) -> tuple[int, Any]:
    return status, [{"message": message, "errorCode": code}]


class _Count(list):  # type: ignore[type-arg]
    """What `SELECT COUNT() FROM ...` answers: no records, only totalSize."""

    def __init__(self, total: int):
        super().__init__()
        self.total = total


class _View:
    """A row as WHERE predicates see it: `Rel.Field` names follow the lookups."""

    def __init__(self, org: FakeOrg, obj: str, row: dict[str, Any]):
        self.org, self.obj, self.row = org, obj, row

    def get(self, name: str, default: Any = None) -> Any:
        if "." in name:
            return self.org.follow(self.obj, self.row, name)
        return self.row.get(name, default)


# the org's number fields as describe types them (SOQL answers numbers, Bulk API CSV text)
NUMBER_FIELDS = {"AnnualRevenue": "currency", "KAM_Potential__c": "currency", "Amount": "currency",
                 "KAM_Amount__c": "currency", "Score__c": "double"}


class FakeOrg:
    """The org's records per object, its describe metadata and the faults to answer with."""

    def __init__(self, token: str = "00Dfake!session", api_limit: int = 1_000_000,
                 fingerprint_field: str | None = None, page_size: int = 2000):
        self.token = token
        self.objects: dict[str, list[dict[str, Any]]] = {}
        self.fields: dict[str, set[str]] = {}
        # describe metadata beyond the name (type, updateable, length...), per object and field
        self.meta: dict[str, dict[str, dict[str, Any]]] = {}
        self.relationships: dict[str, dict[str, str]] = {}
        self.calls: Counter[str] = Counter()
        self.api_used, self.api_limit = 0, api_limit
        self.faults: list[tuple[str, int, Any, dict[str, str]]] = []
        # OAuth client credentials flow: the connected app's secret, and the instance URL the
        # token answer names (a real org names its own; a proxy in front of it would differ)
        self.client_secret = "cs-fake-client-secret"
        self.token_instance_url = "https://wrong-host.invalid"
        # (kind, status): carry the call out, then answer with this status (a 500 after a write)
        self.faults_after: list[tuple[str, int]] = []
        self.reject: Callable[[dict[str, Any]], dict[str, Any] | None] = lambda rec: None
        self.cursors: dict[str, tuple[list[dict[str, Any]], int]] = {}
        self.jobs: dict[str, list[dict[str, Any]]] = {}
        self.ids = itertools.count(1)
        self.lock = threading.Lock()
        self.page_size = page_size
        self.child_page = 200
        self.log: list[tuple[str, str]] = []
        self.returned: Counter[str] = Counter()  # rows sent per object (query pages, bulk results)
        self.soql: list[str] = []
        self._metadata(fingerprint_field)

    def _metadata(self, fingerprint_field: str | None) -> None:
        """Describe metadata from the shipped mapping, so the org has every field it names."""
        for s in load_mapping(None).streams:
            names = self.fields.setdefault(s.object, set(STANDARD))
            for raw in s.fields.values():
                spec = FieldSpec(field=raw) if isinstance(raw, str) else raw
                if spec.children:
                    child, fk = CHILD_FK[spec.children]
                    self.relationships.setdefault(s.object, {})[spec.children] = child
                    inner = [spec.field] if spec.field else list((spec.fields or {}).values())
                    cf = self.fields.setdefault(child, set(STANDARD) | {fk})
                    for sub in inner:
                        sub = FieldSpec(field=sub) if isinstance(sub, str) else sub
                        cf.update([sub.field] if isinstance(sub.field, str) else sub.field or [])
                elif spec.field:
                    names.update(f for f in ([spec.field] if isinstance(spec.field, str) else spec.field)
                                 if "." not in f)
            if s.account_field and "." not in s.account_field:
                names.add(s.account_field)
        self.fields.setdefault("Task", set(STANDARD)).update(TASK_FIELDS)
        self.fields["Account"].add("Type")
        if fingerprint_field:
            self.fields["Task"].add(fingerprint_field)
        for obj in self.fields:
            self.objects.setdefault(obj, [])

    # --- data ------------------------------------------------------------------------------

    def add(self, obj: str, record: dict[str, Any]) -> dict[str, Any]:
        record.setdefault("Id", f"{obj[:3]}{next(self.ids):015d}")
        record.setdefault("SystemModstamp", OLD_STAMP)
        record.setdefault("IsDeleted", False)
        self.objects.setdefault(obj, []).append(record)
        return record

    def tasks(self, ours_only: bool = True) -> list[dict[str, Any]]:
        return [t for t in self.objects["Task"]
                if not ours_only or "kamrules:" in str(t.get("Description") or "")]

    def fail_next(self, kind: str, status: int, body: Any, times: int = 1,
                  headers: dict[str, str] | None = None) -> None:
        """Answer the next `times` calls of `kind` (query, describe, write, bulk, any) so."""
        self.faults.extend([(kind, status, body, headers or {})] * times)

    # --- SOQL ------------------------------------------------------------------------------

    def _semi(self, q: Query) -> set[Any]:
        rows = [r for r in self.objects.get(q.obj, []) if not r.get("IsDeleted")]
        return {r.get(q.fields[0]) for r in rows if q.where is None or q.where(r)}

    # --- lookups (relationship fields) ---------------------------------------------------------

    def by_id(self, obj: str, rid: Any) -> dict[str, Any] | None:
        index = getattr(self, "_by_id", {})
        rows = self.objects.get(obj, [])
        if obj not in index or index[obj][0] != len(rows):
            index[obj] = (len(rows), {r["Id"]: r for r in rows})
            self._by_id = index
        return index[obj][1].get(rid)

    def follow(self, obj: str, row: dict[str, Any] | None, path: str) -> Any:
        """`Opportunity.Account.Type` from a row of `obj`, through its lookups (None when unset)."""
        rel, _, rest = path.partition(".")
        if not rest:
            return None if row is None else row.get(rel)
        link = next(((f, target) for f, (name, target) in REFERENCES.get(obj, {}).items()
                     if name == rel), None)
        if row is None or link is None:
            return None
        return self.follow(link[1], self.by_id(link[1], row.get(link[0])), rest)

    def has_field(self, obj: str, path: str) -> bool:
        rel, _, rest = path.partition(".")
        if not rest:
            return path in self.fields.get(obj, set())
        target = next((t for name, t in REFERENCES.get(obj, {}).values() if name == rel), None)
        return target is not None and self.has_field(target, rest)

    def describe_of(self, obj: str) -> dict[str, Any]:
        """The describe result the org answers for `obj` (fields, lookups, child relationships)."""
        refs = REFERENCES.get(obj, {})
        fields = [{"name": f, **({"relationshipName": refs[f][0], "referenceTo": [refs[f][1]]}
                                 if f in refs else {}), **({"type": NUMBER_FIELDS[f]} if f in NUMBER_FIELDS
                                                           else {}), **self.meta.get(obj, {}).get(f, {})}
                  for f in sorted(self.fields[obj])]
        rels = [{"relationshipName": rel, "childSObject": child, "field": CHILD_FK[rel][1]}
                for rel, child in self.relationships.get(obj, {}).items()]
        return {"name": obj, "fields": fields, "childRelationships": rels}

    def run_query(self, soql: str, include_deleted: bool) -> list[dict[str, Any]]:
        q = Parser(soql, self._semi).query()
        self.soql.append(soql)
        if q.obj not in self.fields:
            raise LookupError(f"sObject type '{q.obj}' is not supported.")
        for name in q.fields:
            if not self.has_field(q.obj, name):
                raise KeyError(f"No such column '{name}' on entity '{q.obj}'.")
        dotted = any(m.group(1) for m in DOTTED.finditer(soql))
        rows = [r for r in self.objects[q.obj] if (include_deleted or not r.get("IsDeleted"))
                and (q.where is None or q.where(_View(self, q.obj, r) if dotted else r))]
        if q.limit is not None:
            rows = rows[:q.limit]
        if q.count:
            return _Count(len(rows))
        out = []
        for r in rows:
            rec = {"attributes": {"type": q.obj, "url": f"/services/data/v60.0/sobjects/{q.obj}/{r['Id']}"}}
            for f in q.fields:
                if "." in f:  # a parent's field comes nested under each relationship's name
                    *rels, name = f.split(".")
                    parent = rec
                    for rel in rels:
                        parent = parent.setdefault(rel, {"attributes": {"type": rel}})
                    parent[name] = self.follow(q.obj, r, f)
                else:
                    rec[f] = r.get(f)
            for sub in q.children:
                child, fk = CHILD_FK[sub.obj]
                kids = [{"attributes": {"type": child}, **{f: c.get(f) for f in sub.fields}}
                        for c in self.children_of(child, fk, r["Id"])
                        if include_deleted or not c.get("IsDeleted")]
                rec[sub.obj] = self._child_block(kids) if kids else None
            out.append(rec)
        return out

    def children_of(self, child: str, fk: str, parent_id: str) -> list[dict[str, Any]]:
        index = getattr(self, "_index", {})
        key = (child, fk)
        if key not in index or index[key][0] != len(self.objects.get(child, [])):
            groups: dict[str, list[dict[str, Any]]] = {}
            for c in self.objects.get(child, []):
                groups.setdefault(c.get(fk), []).append(c)
            index[key] = (len(self.objects.get(child, [])), groups)
            self._index = index
        return index[key][1].get(parent_id, [])

    def _child_block(self, kids: list[dict[str, Any]]) -> dict[str, Any]:
        first = kids[:self.child_page]
        block: dict[str, Any] = {"totalSize": len(kids), "done": len(kids) <= self.child_page,
                                 "records": first}
        if len(kids) > self.child_page:
            block["nextRecordsUrl"] = self._cursor(kids, self.child_page, child=True)
        return block

    def _cursor(self, rows: list[dict[str, Any]], pos: int, child: bool = False) -> str:
        locator = f"01g{next(self.ids):015d}"
        self.cursors[locator] = (rows, 1 if child else 0)
        return f"/services/data/v60.0/query/{locator}-{pos}"

    def page(self, rows: list[dict[str, Any]], pos: int, size: int, child: bool) -> dict[str, Any]:
        size = self.child_page if child else size
        chunk = rows[pos:pos + size]
        if chunk and not child:
            self.returned[chunk[0]["attributes"]["type"]] += len(chunk)
        done = pos + size >= len(rows)
        body: dict[str, Any] = {"totalSize": getattr(rows, "total", len(rows)), "done": done,
                                "records": chunk}
        if not done:
            body["nextRecordsUrl"] = self._cursor(rows, pos + size, child)
        return body

    # --- writes ----------------------------------------------------------------------------

    def write(self, method: str, body: dict[str, Any]) -> list[dict[str, Any]]:
        results = []
        now = sf_time()
        by_id = {t["Id"]: t for t in self.objects["Task"]}
        for rec in body.get("records", [])[:200]:
            fields = {k: v for k, v in rec.items() if k != "attributes"}
            if (rec.get("attributes") or {}).get("type") == "Account" and method == "PATCH":
                results.append(update_account(self, fields, now))
                continue
            unknown = [k for k in fields if k not in self.fields["Task"]]
            rejected = self.reject(fields) or _too_long(fields)
            if unknown:
                rejected = {"statusCode": "INVALID_FIELD", "message": f"No such column '{unknown[0]}'",
                            "fields": unknown}
            if rejected:
                results.append({"id": None, "success": False, "errors": [rejected]})
                continue
            if method == "POST":
                task = self.add("Task", {**fields, "CreatedDate": now, "SystemModstamp": now,
                                         "LastModifiedDate": now, "AccountId": fields.get("WhatId"),
                                         "IsClosed": False})
            else:
                task = by_id.get(str(fields.get("Id")))
                if task is None:
                    results.append({"id": fields.get("Id"), "success": False, "errors": [
                        {"statusCode": "ENTITY_IS_DELETED", "message": "entity is deleted",
                         "fields": []}]})
                    continue
                task.update(fields, SystemModstamp=now, LastModifiedDate=now)
            task["IsClosed"] = task.get("Status") == "Completed"
            if task["IsClosed"] and not task.get("CompletedDateTime"):
                task["CompletedDateTime"] = now
            results.append({"id": task["Id"], "success": True, "errors": []})
        return results

    # --- dispatch --------------------------------------------------------------------------

    def handle(self, method: str, path: str, query: dict[str, list[str]], headers: Any,
               body: bytes) -> tuple[int, Any, dict[str, str]]:
        kind = self._kind(method, path)
        with self.lock:
            self.calls[kind] += 1
            self.api_used += 1
            self.log.append((method, path))
            for n, (fault_kind, status, answer, extra) in enumerate(self.faults):
                if fault_kind in (kind, "any"):
                    del self.faults[n]
                    return status, answer, extra
            if path == "/services/oauth2/token" and method == "POST":
                form = parse_qs(body.decode())
                if form.get("grant_type") == ["client_credentials"] and \
                        form.get("client_secret") == [self.client_secret]:
                    return 200, {"access_token": self.token, "token_type": "Bearer",
                                 "instance_url": self.token_instance_url}, {}
                return 400, {"error": "invalid_client", "error_description": "invalid client credentials"}, {}
            if headers.get("Authorization") != f"Bearer {self.token}":
                return *error(401, "INVALID_SESSION_ID", "Session expired or invalid"), {}
            try:
                answer = self._route(method, path, query, headers, body)
                for n, (fault_kind, status) in enumerate(self.faults_after):
                    if fault_kind == kind:
                        del self.faults_after[n]
                        return *error(status, "UNKNOWN_EXCEPTION", "An unexpected error occurred"), {}
                return answer
            except (LookupError, ValueError) as exc:
                code = "INVALID_TYPE" if isinstance(exc, LookupError) and not isinstance(
                    exc, KeyError) else "INVALID_FIELD" if isinstance(exc, KeyError) else "MALFORMED_QUERY"
                return *error(400, code, str(exc).strip("'\"")), {}

    def _kind(self, method: str, path: str) -> str:
        if "/jobs/query" in path:
            return "bulk"
        if "/describe" in path:
            return "describe"
        if "/composite/sobjects" in path:
            return "write"
        if "/query" in path:
            return "query"
        return "other"

    def _route(self, method: str, path: str, query: dict[str, list[str]], headers: Any,
               body: bytes) -> tuple[int, Any, dict[str, str]]:
        parts = path.rstrip("/").split("/")  # ['', 'services', 'data', 'v60.0', ...]
        rest = parts[4:]
        if rest[:1] in (["query"], ["queryAll"]) and len(rest) == 1:
            size = self.page_size
            opts = headers.get("Sforce-Query-Options") or ""
            if "batchSize=" in opts:
                size = min(self.page_size, int(opts.split("batchSize=")[1]))
            rows = self.run_query(query["q"][0], include_deleted=rest[0] == "queryAll")
            return 200, self.page(rows, 0, size, child=False), {}
        if rest[:1] == ["query"] and len(rest) == 2:
            locator, _, pos = rest[1].rpartition("-")
            rows, child = self.cursors[locator]
            return 200, self.page(rows, int(pos), self.page_size, bool(child)), {}
        if rest[:1] == ["sobjects"] and rest[-1:] == ["describe"]:
            obj = rest[1]
            if obj not in self.fields:
                return *error(404, "NOT_FOUND", "The requested resource does not exist"), {}
            return 200, self.describe_of(obj), {}
        if rest[:2] == ["composite", "sobjects"]:
            return 200, self.write(method, json.loads(body)), {}
        if rest[:2] == ["jobs", "query"]:
            return self._bulk(method, rest[2:], query, body)
        if rest[:1] == ["limits"]:
            return 200, {"DailyApiRequests": {"Max": self.api_limit,
                                              "Remaining": self.api_limit - self.api_used}}, {}
        return *error(404, "NOT_FOUND", "The requested resource does not exist"), {}

    def _bulk(self, method: str, rest: list[str], query: dict[str, list[str]],
              body: bytes) -> tuple[int, Any, dict[str, str]]:
        if method == "POST":
            spec = json.loads(body)
            job_id = f"750{next(self.ids):015d}"
            rows = self.run_query(spec["query"], include_deleted=spec["operation"] == "queryAll")
            self.jobs[job_id] = rows
            return 200, {"id": job_id, "operation": spec["operation"], "state": "UploadComplete"}, {}
        job_id = rest[0]
        if len(rest) == 1:
            return 200, {"id": job_id, "state": "JobComplete",
                         "numberRecordsProcessed": len(self.jobs[job_id])}, {}
        rows = self.jobs[job_id]
        start = int(query.get("locator", ["0"])[0])
        size = int(query.get("maxRecords", ["100000"])[0])
        chunk = rows[start:start + size]
        if chunk:
            self.returned[chunk[0]["attributes"]["type"]] += len(chunk)
        out = io.StringIO()
        chunk = [_flat(r) for r in chunk]
        cols = [k for k in (_flat(rows[0]) if rows else {}) if k != "attributes"]
        writer = csv.DictWriter(out, fieldnames=cols, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        for r in chunk:
            writer.writerow({k: ("" if v is None else str(v).lower() if isinstance(v, bool) else v)
                             for k, v in r.items()})
        locator = str(start + size) if start + size < len(rows) else "null"
        return 200, out.getvalue(), {"Sforce-Locator": locator, "Content-Type": "text/csv",
                                     "Sforce-NumberOfRecords": str(len(chunk))}


TASK_LENGTHS = {"Subject": 255, "Description": 32_000}  # Task's describe: string, textarea


def sf_length(value: str) -> int:
    """A text's length as Salesforce counts it: UTF-16 code units, an emoji two (Salesforce
    Help 005166849, "Surrogate Pair Characters Are Treated as Two Characters")."""
    return len(value.encode("utf-16-le", "surrogatepass")) // 2


def _too_long(fields: dict[str, Any]) -> dict[str, Any] | None:
    """The API's refusal of a value past its field's length, as it answers it."""
    for name, length in TASK_LENGTHS.items():
        if sf_length(str(fields.get(name) or "")) > length:
            return {"statusCode": "STRING_TOO_LONG", "fields": [name],
                    "message": f"{name}: data value too large: (max length={length})"}
    return None


def _flat(row: dict[str, Any]) -> dict[str, Any]:
    """A row as Bulk API CSV has it: parent fields as `Opportunity.AccountId` columns."""
    out: dict[str, Any] = {}
    for k, v in row.items():
        if isinstance(v, dict) and k != "attributes":
            out.update({f"{k}.{sub}": x for sub, x in v.items() if sub != "attributes"})
        else:
            out[k] = v
    return out


def make_handler(org: FakeOrg) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out at once: no delayed-ACK stalls

        def log_message(self, *args: Any) -> None:
            return None

        def _serve(self, method: str) -> None:
            url = urlparse(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            status, answer, extra = org.handle(method, url.path, parse_qs(url.query),
                                               self.headers, body)
            data = answer.encode() if isinstance(answer, str) else json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", extra.pop("Content-Type", "application/json"))
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Sforce-Limit-Info", f"api-usage={org.api_used}/{org.api_limit}")
            for k, v in extra.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

        def do_PATCH(self) -> None:
            self._serve("PATCH")

    return Handler


class FakeServer:
    """The org on https://127.0.0.1:PORT, in a thread; a context manager."""

    def __init__(self, org: FakeOrg, cert: Path, key: Path):
        self.org = org
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(org))
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(cert), str(key))
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self) -> FakeServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def make_cert(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost, and its key (PEM files)."""
    import ipaddress
    from datetime import timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fake-salesforce")])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName([
                x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
                critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    folder.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.TraditionalOpenSSL,
                                           serialization.NoEncryption()))
    return cert_path, key_path
