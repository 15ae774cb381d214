"""`clean` against a copy of its per-record walk (a guard for any faster version): the same
records kept, in the same order, and the same warnings in the same order, on snapshots with
duplicates and dangling references in random places, and nothing dropped from clean ones.

(Whole-kind set checks were tried as a fast path and measured slower than the walk on the
100,000-account portfolio: reading a pydantic attribute is the cost either way.)"""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from kamrules.connectors.local.demo import demo_portfolio
from kamrules.model import RECORD_KINDS, RecordWarning, Snapshot
from kamrules.run.cleaning import clean
from tests.conftest import ANCHOR

BASE = demo_portfolio(ANCHOR, accounts=12)
RELATED = [k for k in RECORD_KINDS if k not in ("accounts", "users")]


def reference_clean(snapshot: Snapshot) -> Snapshot:
    """`clean` as it is at ceba8ab (kamrules/run/cleaning.py), with the records of an account
    a connector skipped as unreadable told so."""
    warnings = snapshot.warnings
    seen: set[str] = set()
    accounts = []
    for account in snapshot.accounts:
        if account.id in seen:
            warnings.append(RecordWarning(kind="accounts", record_id=account.id,
                                          message="duplicate account id; the first one is used"))
            continue
        seen.add(account.id)
        accounts.append(account)
    snapshot.accounts = accounts
    unread = {w.record_id for w in warnings if w.kind in ("accounts", "hubspot companies")}
    for kind, model in RECORD_KINDS.items():
        if kind in ("accounts", "users"):
            continue
        has_id = "id" in model.model_fields
        kept, ids = [], set()
        for record in getattr(snapshot, kind):
            rid = record.id if has_id else None
            if record.account_id not in seen:
                gone = record.account_id in unread
                warnings.append(RecordWarning(
                    kind=kind, record_id=str(rid or record.account_id),
                    message=f"belongs to account {record.account_id!r}, which was skipped (see"
                    " the warning about it)" if gone else
                    f"refers to account {record.account_id!r}, which does not exist"))
            elif rid is not None and rid in ids:
                warnings.append(RecordWarning(kind=kind, record_id=str(rid),
                                              message="duplicate id; the first one is used"))
            else:
                if rid is not None:
                    ids.add(rid)
                kept.append(record)
        setattr(snapshot, kind, kept)
    return snapshot


def _snapshot(raw: dict[str, list[dict]]) -> Snapshot:
    return Snapshot.model_validate({"as_of": ANCHOR, **raw})


def _broken(seed: int, faults: int) -> dict[str, list[dict]]:
    """The demo portfolio with `faults` random faults: a record (or account) repeated at a
    random place, a record moved to an account that does not exist, an account dropped (its
    records left dangling), an account skipped as a connector skips one it cannot read (a
    warning names it), or a repeated record also moved."""
    rng = random.Random(seed)
    raw = {k: [dict(r) for r in v] for k, v in BASE.items()}
    for _ in range(faults):
        kind = rng.choice([k for k in ("accounts", *RELATED) if raw.get(k)])
        records = raw[kind]
        what = rng.choice(["repeat", "dangle", "drop", "unread", "repeat-dangle"])
        i = rng.randrange(len(records))
        if what == "drop" and kind == "accounts":
            del records[i]
        elif what == "unread" and kind == "accounts":
            gone = records.pop(i)
            raw.setdefault("warnings", []).append(
                {"kind": rng.choice(["accounts", "hubspot companies"]), "record_id": gone["id"],
                 "message": "could not be read"})
        elif what == "dangle" and kind != "accounts":
            records[i]["account_id"] = rng.choice(["ACC-GONE", "ACC-999999", records[i]["account_id"] + "x"])
        elif what == "repeat-dangle" and kind != "accounts":
            copy = dict(records[i], account_id="ACC-NOWHERE")
            records.insert(rng.randrange(len(records) + 1), copy)
        else:
            copy = dict(records[i])
            if rng.random() < 0.3 and kind != "accounts" and "id" in copy:
                copy["account_id"] = rng.choice(raw["accounts"])["id"]  # same id, other account
            records.insert(rng.randrange(len(records) + 1), copy)
    return raw


def _same(seed: int, faults: int) -> tuple[Snapshot, Snapshot]:
    raw = _broken(seed, faults)
    new, old = clean(_snapshot(raw)), reference_clean(_snapshot(raw))
    for kind in RECORD_KINDS:
        assert getattr(new, kind) == getattr(old, kind), kind
    assert new.warnings == old.warnings
    return new, old


@settings(max_examples=150, deadline=None)
@given(seed=st.integers(0, 2**32), faults=st.integers(0, 6))
def test_clean_matches_the_per_record_walk(seed: int, faults: int) -> None:
    _same(seed, faults)


def test_the_seeded_faults_reach_the_per_record_walk() -> None:
    """Seeded faults give both kinds of warning in most kinds, so the comparison above covers
    the per-record walk too (a repeated plan, team member or survey has no id, and an account
    dropped with no records leaves nothing dangling: those give none)."""
    found: set[tuple[str, str]] = set()
    for seed in range(60):
        new, _ = _same(seed, 3)
        found |= {(w.kind, w.message.split(" ")[0]) for w in new.warnings}
    assert ("accounts", "duplicate") in found
    assert {k for k, m in found if m == "refers"} >= {"contacts", "deals", "activities"}
    assert {k for k, m in found if m == "belongs"} >= {"contacts", "deals", "activities"}
    assert {k for k, m in found if m == "duplicate"} >= {"contacts", "deals", "activities"}


def test_a_clean_snapshot_is_left_as_it_is() -> None:
    snapshot = _snapshot(BASE)
    before = {k: list(getattr(snapshot, k)) for k in RECORD_KINDS}
    out = clean(snapshot)
    assert out.warnings == []
    for kind in RECORD_KINDS:
        assert all(a is b for a, b in zip(getattr(out, kind), before[kind], strict=True))
        assert len(getattr(out, kind)) == len(before[kind])


def test_warnings_come_after_those_already_there_in_kind_order() -> None:
    raw = {k: [dict(r) for r in v] for k, v in BASE.items()}
    raw["deals"][0]["account_id"] = "ACC-GONE"
    raw["contacts"].append(dict(raw["contacts"][1]))
    raw["accounts"].insert(0, dict(raw["accounts"][-1]))
    snapshot = _snapshot(raw)
    snapshot.warnings.append(RecordWarning(kind="users", record_id="U9", message="earlier"))
    out = clean(snapshot)
    assert [w.kind for w in out.warnings] == ["users", "accounts", "contacts", "deals"]
    assert out.warnings[2].message == "duplicate id; the first one is used"
    assert "ACC-GONE" in out.warnings[3].message
