"""HubSpot budgets: the client never passes the 10-second budget the fake enforces, backs off on
429 TEN_SECONDLY, retries 5xx, and a full run makes the minimal number of calls.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from kamrules.connectors.hubspot.config import HubSpotConfig, load_mapping
from kamrules.connectors.hubspot.connector import HubSpotConnector
from kamrules.connectors.hubspot.http import HubSpotApi, RateLimiter
from kamrules.inputs.secrets import Secret
from kamrules.language.loader import builtin_dir, load_pack
from kamrules.protocol.changes import Change
from kamrules.protocol.marker import read_marker
from kamrules.run.sync import evaluate
from tests.conftest import ANCHOR
from tests.support.hubspot import FakeHubSpot, minimal_calls
from tests.support.hubspot_workspace import TOKEN, start_fake


def connector(
    url: str, budget: int, window: float, sleep: Any = time.sleep, **extra: Any
) -> HubSpotConnector:
    config = HubSpotConfig.model_validate(
        {
            "type": "hubspot",
            "access_token": {"env": "UNUSED"},
            "base_url": url,
            "requests_per_10s": budget,
            "rate_window_seconds": window,
            "retry": {"attempts": 4, "base_seconds": 0.01, "max_seconds": 0.05},
            **extra,
        }
    )
    mapping, _ = load_mapping(None, Path("."))
    api = HubSpotApi(
        Secret(TOKEN), url, budget, config.search_per_second, config.retry, window=window, sleep=sleep
    )
    return HubSpotConnector(config, mapping, api, None)


@pytest.fixture
def portal(demo_records: dict[str, list[dict[str, Any]]]) -> Iterator[tuple[FakeHubSpot, str]]:
    fake, url, _ = start_fake(demo_records, budget=20, window=0.25)
    yield fake, url
    fake.stop()


def test_limiter_counts_call_ends_in_a_sliding_window() -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(s: float) -> None:
        slept.append(s)
        now[0] += s

    lim = RateLimiter(3, 10.0, clock=lambda: now[0], sleep=sleep)
    for _ in range(3):
        lim.acquire()
        now[0] += 1
        lim.done()
    lim.acquire()  # the fourth call waits until the first ended 10 s ago
    assert slept and now[0] == pytest.approx(11.0, abs=1e-3)


@pytest.fixture
def slow_portal(demo_records: dict[str, list[dict[str, Any]]]) -> Iterator[tuple[FakeHubSpot, str]]:
    """A budget of 10 calls in half a second: a run's calls (a few ms each) pass it however
    loaded the machine is (20 in a quarter second did not always, and the budget did not bind)."""
    fake, url, _ = start_fake(demo_records, budget=10, window=0.5)
    yield fake, url
    fake.stop()


def test_full_run_stays_in_budget_and_makes_the_minimal_number_of_calls(
    slow_portal: tuple[FakeHubSpot, str],
) -> None:
    fake, url = slow_portal
    conn = connector(url, budget=10, window=0.5)
    snapshot = conn.pull(ANCHOR)
    findings, _ = evaluate(snapshot, [load_pack(builtin_dir() / "kam-core")])
    tasks = conn.list_tasks(date(2026, 1, 1))
    assert tasks == []
    creates = [Change(action="create", fingerprint=f.fingerprint, task=_task(f)) for f in findings]
    results = conn.apply(creates)
    assert all(r.ok for r in results) and len(fake.tasks()) == len(findings)
    minimal = sum(minimal_calls(fake, len(creates)).values())
    assert conn.api_calls == sum(fake.calls.values()) == minimal  # within 1.2x: exactly minimal here
    assert fake.refused == {} and fake.max_in_window <= 10
    assert conn.api.limiter.waited > 0  # the budget did bind: >10 calls in 0.5 s were held back


def test_incremental_runs_make_the_minimal_number_of_calls(
    portal: tuple[FakeHubSpot, str], tmp_path: Path
) -> None:
    """Unchanged: one empty search per type, no writes; edited: the edits' search pages. Both
    re-read every association, which is how a deal moved to another company (HubSpot leaves
    both records' modification dates alone) reaches the snapshot."""
    from kamrules.connectors.cache import RecordCache
    from tests.support.hubspot import RELATED

    fake, url = portal
    fake.backdate(3600)  # older than the 15 min lookback

    def run(changed: dict[str, int] | None) -> tuple[HubSpotConnector, dict[str, int], Any]:
        time.sleep(0.25)  # a fresh limiter knows nothing of the last run's window: let it drain
        conn = connector(url, budget=20, window=0.25)
        conn.cache = RecordCache(tmp_path / "cache.sqlite")
        tasks_before, calls = len(fake.tasks()), sum(fake.calls.values())
        snapshot = conn.pull(ANCHOR)
        findings, _ = evaluate(snapshot, [load_pack(builtin_dir() / "kam-core")])
        known = {t.fingerprint for t in conn.list_tasks(date(2026, 1, 1))}
        new = [f for f in findings if f.fingerprint not in known]
        conn.apply([Change(action="create", fingerprint=f.fingerprint, task=_task(f)) for f in new])
        conn.commit()
        conn.close()
        minimal = minimal_calls(fake, len(new), tasks_before, changed=changed, uncached={})
        assert sum(fake.calls.values()) - calls == conn.api_calls
        assert conn.api_calls == sum(minimal.values()), (conn.calls_by_endpoint, minimal)
        return conn, minimal, snapshot

    run(None)
    writes = fake.writes
    conn, minimal, _ = run({})  # nothing changed
    assert fake.writes == writes  # no write call at all
    assert conn.calls_by_endpoint.get("GET /crm/v3/objects/companies", 0) == 0  # searched, not listed
    assert minimal["search pages (200)"] == 1 + len(RELATED) and minimal["batch reads (100)"] == 0

    edited = fake.modify_share(RELATED, 0.3, seed=3)
    assert len(edited["contacts"]) > 200  # two search pages
    contact = edited["contacts"][0]
    role = fake.objects["contacts"][contact]["properties"]["hs_buying_role"]
    deals = fake.links[("companies", "deals")]
    source = next(c for c, to in deals.items() if to)
    deal = next(iter(deals[source]))
    target = next(c for c in fake.objects["companies"] if c != source)
    del deals[source][deal], fake.links[("deals", "companies")][deal][source]
    fake.link("companies", target, "deals", deal, [342])  # moved, no modification date touched
    _, minimal, snapshot = run({k: len(v) for k, v in edited.items()})
    assert minimal["search pages (200)"] > 1 + len(RELATED)  # some types took two pages
    assert fake.refused == {}
    assert next(c for c in snapshot.contacts if c.id == contact).buying_role == _role(role)
    assert next(d for d in snapshot.deals if d.id == deal).account_id == target


def _role(hubspot: str) -> str | None:
    from tests.support.hubspot_data import ROLE_OUT

    return {v: k for k, v in ROLE_OUT.items()}.get(hubspot)


def _task(f: Any) -> Any:
    from kamrules.model import Task

    return Task(
        fingerprint=f.fingerprint,
        account_id=f.account_id,
        subject=f"{f.rule_id} task",
        body="b",
        evidence=f.evidence,
        due=ANCHOR,
    )


def test_ten_secondly_429_waits_a_window_and_retries(portal: tuple[FakeHubSpot, str]) -> None:
    fake, url = portal
    body = {
        "status": "error",
        "message": "You have reached your ten_secondly_rolling limit.",
        "errorType": "RATE_LIMIT",
        "policyName": "TEN_SECONDLY_ROLLING",
    }
    fake.failures = [("GET /crm/v3/objects/companies", 429, body), ("GET /crm/v3/owners", 502, {})]
    slept: list[float] = []
    conn = connector(url, budget=20, window=0.25, sleep=lambda s: (slept.append(s), time.sleep(s)))
    snapshot = conn.pull(ANCHOR)
    assert len(snapshot.accounts) == 300
    assert conn.api.throttled == 1 and conn.api.retries == 2
    assert any(s >= 0.2 for s in slept)  # Retry-After (here the fake's "1" s floor) or a whole window
    assert fake.calls["GET /crm/v3/objects/companies"] == 4  # 3 pages + the refused one


def test_search_keeps_to_its_own_per_second_budget(portal: tuple[FakeHubSpot, str]) -> None:
    fake, url = portal
    fake.search_budget, fake.search_window = 2, 0.1
    conn = connector(url, budget=20, window=0.25, search_per_second=2)
    conn.api.search_limiter.window = 0.1
    since = time.time() - 3600
    from datetime import UTC, datetime

    rows = conn.reader.modified_since(
        "emails", "hs_lastmodifieddate", datetime.fromtimestamp(since, UTC), ["hs_email_subject"]
    )
    assert len(rows) == len(fake.objects["emails"])
    assert fake.refused == {}


def test_search_past_10000_results_is_cut_by_date(portal: tuple[FakeHubSpot, str]) -> None:
    fake, url = portal
    import tests.support.hubspot as fh

    conn = connector(url, budget=20, window=0.25)
    for i, obj in enumerate(sorted(fake.objects["emails"].values(), key=lambda o: int(o["id"]))):
        obj["properties"]["hs_lastmodifieddate"] = str(1_700_000_000_000 + i // 3)
    import kamrules.connectors.hubspot.pull as pull

    old = pull.SEARCH_CAP
    pull.SEARCH_CAP = 400  # the real cap is 10,000; the same logic at a small scale
    original = fh.FakeHubSpot.search

    def capped(self: FakeHubSpot, kind: str, payload: dict[str, Any]) -> Any:
        if int(payload.get("after") or 0) + int(payload.get("limit", 10)) > 400:
            return 400, {"status": "error", "message": "10,000 cap", "category": "VALIDATION_ERROR"}, {}
        return original(self, kind, payload)

    fh.FakeHubSpot.search = capped  # type: ignore[method-assign]
    try:
        from datetime import UTC, datetime

        rows = conn.reader.modified_since(
            "emails", "hs_lastmodifieddate", datetime.fromtimestamp(1_600_000_000, UTC), []
        )
    finally:
        pull.SEARCH_CAP = old
        fh.FakeHubSpot.search = original  # type: ignore[method-assign]
    assert len(rows) == len(fake.objects["emails"]) > 400


def test_task_marker_round_trips(portal: tuple[FakeHubSpot, str]) -> None:
    fake, url = portal
    conn = connector(url, budget=20, window=0.25)
    acc = next(iter(fake.objects["companies"]))
    from kamrules.model import Task

    task = Task(
        fingerprint=f"kam-core/KAM-X-001/{acc}",
        account_id=acc,
        subject="s",
        body="text",
        evidence={"contacts": 2},
        due=ANCHOR,
        priority="high",
        owner_id="101",
    )
    [result] = conn.apply([Change(action="create", fingerprint=task.fingerprint, task=task)])
    assert result.ok
    [back] = conn.list_tasks(ANCHOR)
    assert (
        back.fingerprint,
        back.account_id,
        back.body,
        back.evidence,
        back.priority,
        back.due,
        back.owner_id,
    ) == (task.fingerprint, acc, "text", {"contacts": 2}, "high", ANCHOR, "101")
    assert read_marker(fake.tasks()[0]["properties"]["hs_task_body"]) == (task.fingerprint, {"contacts": 2})


def test_connection_errors_are_retried_then_reported_without_the_token() -> None:
    import socket

    from kamrules.connectors.hubspot.http import HubSpotError

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again when the block ends: nothing listens there
    slept: list[float] = []
    conn = connector(f"http://127.0.0.1:{port}", budget=20, window=0.25, sleep=slept.append)
    with pytest.raises(HubSpotError) as caught:
        conn.pull(ANCHOR)
    assert "after 4 tries" in str(caught.value) and TOKEN not in str(caught.value)
    assert conn.api_calls == 4 and len(slept) >= 3
