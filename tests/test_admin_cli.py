"""The admin's first hour (issue #16), from the admin's side: the CLI in a subprocess, as typed."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import pytest

from kamrules.connectors.local.demo import demo_portfolio
from tests import kamrules_process
from tests.conftest import ANCHOR, ROOT, Workspace

SMALL = demo_portfolio(ANCHOR, accounts=80)


def kamrules(cwd: Path, *args: str, env: dict[str, str] | None = None
             ) -> subprocess.CompletedProcess[str]:
    """`kamrules ARGS` typed in `cwd`, with the environment a shell would have."""
    full = {k: v for k, v in os.environ.items() if k != "KAMRULES_CONFIG"}
    full |= {"PYTHONPATH": str(ROOT), **(env or {})}
    return kamrules_process.run(args, cwd=cwd, env=full)


# --- 1. validate checks the whole config offline ------------------------------------------------

HUBSPOT = "crm:\n  type: hubspot\n  access_token: {env: ADMIN_TEST_TOKEN}\npacks: [kam-core]\n"


@pytest.mark.parametrize(("config", "line", "says"), [
    (HUBSPOT.replace("type: hubspot", "type: hubspt"), 2,
     "unknown CRM type 'hubspt' (did you mean 'hubspot'?)"),
    (HUBSPOT.replace("{env: ADMIN_TEST_TOKEN}", "pat-na1-0123456789"), 3,
     "a secret is written inline; never put it in the YAML"),
    (HUBSPOT.replace("packs:", "  requests_per_10: 100\npacks:"), 4,
     "unknown key 'requests_per_10'"),
    (HUBSPOT.replace("ADMIN_TEST_TOKEN", "ADMIN_TEST_NOT_SET"), 3,
     "environment variable ADMIN_TEST_NOT_SET is not set"),
    (HUBSPOT.replace("packs:", "  mapping: no-such-mapping.yaml\npacks:"), 4,
     "no-such-mapping.yaml does not exist"),
    # outside crm: too (a Slack webhook's URL holds its token): it read "Input should be a valid
    # dictionary or instance of SecretRef"
    # a digest's variable not set was found only when the run sent it
    (HUBSPOT + "digest:\n  webhook: {url: {env: ADMIN_TEST_HOOK_NOT_SET}}\n", 6,
     "environment variable ADMIN_TEST_HOOK_NOT_SET is not set"),
    (HUBSPOT + "digest:\n  webhook: {url: 'https://hooks.slack.com/services/pat-secret'}\n", 6,
     "a secret is written inline; never put it in the YAML: export it as an"
     " environment variable and write `url: {env: KAMRULES_DIGEST_WEBHOOK_URL}`"),
])
def test_validate_refuses_a_broken_crm_section_located_exit_2(
        tmp_path: Path, config: str, line: int, says: str) -> None:
    (tmp_path / "kamrules.yaml").write_text(config)
    proc = kamrules(tmp_path, "validate", env={"ADMIN_TEST_TOKEN": "pat-secret"})
    assert proc.returncode == 2, proc.stderr
    assert f"kamrules.yaml:{line}:" in proc.stderr and says in proc.stderr
    assert "pat-secret" not in proc.stdout + proc.stderr and "Traceback" not in proc.stderr
    as_json = kamrules(tmp_path, "validate", "--format", "json", env={"ADMIN_TEST_TOKEN": "pat-secret"})
    report = json.loads(as_json.stdout)
    assert as_json.returncode == 2 and report["ok"] is False
    assert any(p["line"] == line and says in p["message"] for p in report["problems"])


def test_validate_reports_every_problem_at_once_and_passes_a_good_config(tmp_path: Path) -> None:
    (tmp_path / "kamrules.yaml").write_text(
        HUBSPOT.replace("type: hubspot", "type: hubspot\n  tokn: 1").replace("ADMIN_TEST_TOKEN", "NOPE_X")
        + "lifecycle: {renotify_after_dayz: 3}\noverrides: {kam-core: {params: {min_contact: 2}}}\n")
    proc = kamrules(tmp_path, "validate", "--json")
    messages = [p["message"] for p in json.loads(proc.stdout)["problems"]]
    assert proc.returncode == 2 and len(messages) == 3  # the crm key, the variable, lifecycle ...
    assert any("tokn" in m for m in messages) and any("renotify_after_dayz" in m for m in messages)
    assert any("NOPE_X is not set" in m for m in messages)
    (tmp_path / "kamrules.yaml").write_text(HUBSPOT + "overrides: {kam-core: {params: {min_contact: 2}}}\n")
    proc = kamrules(tmp_path, "validate", "--json", env={"ADMIN_TEST_TOKEN": "x"})
    assert proc.returncode == 2 and "has no param 'min_contact'" in proc.stdout  # ... and packs
    (tmp_path / "kamrules.yaml").write_text(HUBSPOT)
    good = kamrules(tmp_path, "validate", "--json", env={"ADMIN_TEST_TOKEN": "x"})
    assert good.returncode == 0, good.stderr
    assert json.loads(good.stdout)["ok"] is True


# --- 2. config discovery ------------------------------------------------------------------------

def test_config_is_found_from_a_subfolder_anywhere_on_the_line_and_from_the_environment(
        workspace_factory: Callable[..., Workspace], tmp_path: Path) -> None:
    ws = workspace_factory(SMALL)
    sub = ws.root / "reports" / "nightly"
    sub.mkdir(parents=True)
    proc = kamrules(sub, "plan", "--as-of", "2026-11-01", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["accounts"] == 80  # the workspace's CRM, not a new demo
    first = proc.stderr.splitlines()[0]
    assert str(ws.root / "kamrules.yaml") in first and "local CRM at" in first
    assert str(ws.crm_path) in first
    assert not (sub / ".kamrules").exists()

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    after = kamrules(elsewhere, "plan", "--json", "--config", str(ws.root / "kamrules.yaml"))
    assert after.returncode == 0 and json.loads(after.stdout)["accounts"] == 80
    env = kamrules(elsewhere, "plan", "--json", env={"KAMRULES_CONFIG": str(ws.root / "kamrules.yaml")})
    assert json.loads(env.stdout)["accounts"] == 80 and "KAMRULES_CONFIG" in env.stderr
    assert not (elsewhere / ".kamrules").exists()

    # named .yml it was passed over, and the run went to a new demo CRM, exit 0
    (ws.root / "kamrules.yaml").rename(ws.root / "kamrules.yml")
    yml = kamrules(sub, "plan", "--as-of", "2026-11-01", "--json")
    assert json.loads(yml.stdout)["accounts"] == 80 and str(ws.root / "kamrules.yml") in yml.stderr
    (ws.root / "kamrules.yaml").write_text("crm: {type: local}\n")
    both = kamrules(sub, "plan", "--as-of", "2026-11-01")
    assert both.returncode == 2
    assert (f"{ws.root / 'kamrules.yml'}: kamrules.yaml and kamrules.yml are both here: keep one"
            in both.stderr)
    assert not (sub / ".kamrules").exists()


def test_demo_crm_only_without_any_config(tmp_path: Path) -> None:
    (tmp_path / "own").mkdir()
    (tmp_path / "own" / "kamrules.yaml").write_text("packs: [kam-core]\n")
    own = kamrules(tmp_path / "own", "plan", "--json")
    assert own.returncode == 0 and json.loads(own.stdout)["accounts"] == 0  # not seeded
    (tmp_path / "none").mkdir()
    demo = kamrules(tmp_path / "none", "plan", "--json")
    assert json.loads(demo.stdout)["accounts"] == 300
    assert demo.stderr.splitlines()[0] == (
        f"no config: embedded demo CRM at {tmp_path / 'none' / '.kamrules' / 'crm.sqlite'}")


def test_top_help_lists_every_exit_code() -> None:
    proc = kamrules(ROOT, "--help")
    assert all(f"{code} " in proc.stdout for code in range(6))
    assert "5 internal error" in proc.stdout


# --- 4. machine-readable always -----------------------------------------------------------------

def test_run_json_against_an_unreachable_crm_prints_the_report_exit_4(tmp_path: Path) -> None:
    (tmp_path / "kamrules.yaml").write_text(
        "crm:\n  type: hubspot\n  access_token: {env: ADMIN_TEST_TOKEN}\n"
        "  base_url: http://127.0.0.1:9\n  timeout_seconds: 2\n"
        "  retry: {attempts: 2, base_seconds: 0.01, max_seconds: 0.02}\n")
    env = {"ADMIN_TEST_TOKEN": "pat-na1-secret-value"}
    proc = kamrules(tmp_path, "run", "--format", "json", env=env)
    assert proc.returncode == 4, proc.stderr
    report = json.loads(proc.stdout)
    assert report["outcome"] == "error" and report["exit_code"] == 4
    assert "HubSpot unreachable" in report["error"] and report["api_calls"] >= 1
    assert "pat-na1-secret-value" not in proc.stdout + proc.stderr
    history = json.loads(kamrules(tmp_path, "history", "--json", env=env).stdout)
    assert history[0]["outcome"] == "error" and history[0]["exit_code"] == 4
    assert history[0]["api_calls"] == report["api_calls"]
    locked_out = kamrules(tmp_path, "plan", "--json")  # a config error is a JSON report too
    assert locked_out.returncode == 2
    assert "environment variable ADMIN_TEST_TOKEN is not set" in json.loads(locked_out.stdout)["error"]


@pytest.mark.parametrize("args", [
    ("facts",), ("rules",), ("history",), ("validate",), ("snooze", "list"),
    ("explain", "Baltic Foods", "--as-of", "2026-11-01"), ("plan", "--as-of", "2026-11-01"),
])
def test_every_command_speaks_json_with_format_or_its_alias(
        workspace_factory: Callable[..., Workspace], args: tuple[str, ...]) -> None:
    ws = workspace_factory(SMALL)
    for flag in (("--format", "json"), ("--json",)):
        proc = kamrules(ws.root, *args, *flag)
        assert proc.returncode == 0, proc.stderr
        json.loads(proc.stdout)  # nothing else on stdout: the config line is on stderr


@pytest.mark.parametrize(("args", "says"), [
    (("history", "--limit", "99999999999999999999"), "Invalid value for '--limit'"),  # was exit 5
    (("history", "--limit", "-1"), "Invalid value for '--limit'"),  # listed every run
    (("worker", "--concurrency", "0"), "Invalid value for '--concurrency'"),
    # a NaN wait never ended while another run held the lock; a negative one "waited -5s"
    (("plan", "--as-of", "2026-02-29"), "Invalid value for '--as-of': '2026-02-29' is not a date"),
    (("run", "--lock-wait", "nan"), "Invalid value for '--lock-wait': not a number"),
    (("run", "--lock-wait", "-5"), "Invalid value for '--lock-wait'"),
    (("run", "--lock-wait", "1e400"), "Invalid value for '--lock-wait'"),
    (("schedule", "--once", "--at", "2am"), "Invalid value for '--at': '2am' is not a time"),  # was 5
])
def test_counts_out_of_range_are_usage_errors(tmp_path: Path, args: tuple[str, ...],
                                              says: str) -> None:
    proc = kamrules(tmp_path, *args)
    assert proc.returncode == 2 and says in proc.stderr, proc.stderr


def test_schedule_at_is_a_utc_minute() -> None:
    from datetime import UTC, datetime

    from kamrules.cli.distributed import _utc_minute

    assert _utc_minute("2026-11-30T02:00") == datetime(2026, 11, 30, 2, 0, tzinfo=UTC)
    # with a zone: the same moment in UTC (it fired the zone's wall-clock minute)
    assert _utc_minute("2026-11-30T07:00+05:00") == datetime(2026, 11, 30, 2, 0, tzinfo=UTC)


def test_tables_are_tsv_with_a_header_when_piped(workspace_factory: Callable[..., Workspace]) -> None:
    ws = workspace_factory(SMALL)
    for args, header in ((("rules",), "pack\tid\tseverity"), (("facts",), "fact\ttype\tunit")):
        lines = kamrules(ws.root, *args).stdout.splitlines()
        assert lines[0].startswith(header)
        width = lines[0].count("\t")
        assert all(line.count("\t") == width for line in lines[1:]) and len(lines) > 20
    names = [line.split("\t")[4] for line in kamrules(ws.root, "rules").stdout.splitlines()[1:]]
    assert "Too few contacts at a key account" in names  # whole, never split across lines


# --- 5. run output a person reads ---------------------------------------------------------------

def test_plan_text_summarises_by_severity_and_owner_then_the_first_changes(
        workspace_factory: Callable[..., Workspace]) -> None:
    ws = workspace_factory(SMALL)
    text = kamrules(ws.root, "plan", "--as-of", "2026-11-01").stdout
    report = json.loads(kamrules(ws.root, "plan", "--as-of", "2026-11-01", "--json").stdout)
    created = [c for c in report["changes"] if c["action"] == "create"]
    high = sum(1 for c in created if c["severity"] == "high")
    assert f"{high} high" in text.splitlines()[1]
    tasks = sum(1 for c in report["changes"] if c["action"] in ("create", "update", "keep")
                and c["severity"])
    assert f"{report['findings']} findings as of 2026-11-01; {tasks} tasks by severity: " \
        in text.splitlines()[1]
    owner = created[0]["owner_name"]
    assert owner and "by owner: " in text and owner in text
    assert f"would be created ({len(created)}):" in text
    assert f"... {len(created) - 10} more (--format json for all)" in text
    assert len(text.splitlines()) < 30
    everything = kamrules(ws.root, "plan", "--as-of", "2026-11-01", "--limit", "0").stdout
    assert all(c["fingerprint"] in everything for c in created)


def test_a_run_over_an_empty_local_crm_says_where_accounts_come_from(
        workspace_factory: Callable[..., Workspace]) -> None:
    """A config's local CRM starts empty (no invented accounts unless `seed: demo`): a first run
    read "0 accounts, 0 findings: nothing to do", and the admin was left to guess why."""
    ws = workspace_factory(SMALL)
    (ws.root / "empty").mkdir()
    (ws.root / "empty" / "kamrules.yaml").write_text("crm: {type: local, path: crm.sqlite}\n")
    for command in ("plan", "run"):
        proc = kamrules(ws.root / "empty", command)
        assert proc.returncode == 0, proc.stderr
        said = " ".join(proc.stderr.split())
        assert "note the CRM holds no accounts: load a CSV export with `kamrules import-csv DIR`," \
            " or write `seed: demo` under `crm:`" in said
        as_json = kamrules(ws.root / "empty", command, "--json")
        assert json.loads(as_json.stdout)["accounts"] == 0 and "no accounts" not in as_json.stderr
    assert "no accounts" not in kamrules(ws.root, "plan", "--as-of", "2026-11-01").stderr


# --- 6. safe time travel ------------------------------------------------------------------------

def test_an_as_of_before_the_last_run_refuses_to_write_without_force(
        workspace_factory: Callable[..., Workspace]) -> None:
    ws = workspace_factory(SMALL)
    assert kamrules(ws.root, "run", "--as-of", "2026-11-01").returncode == 0
    tasks = len(ws.crm().all_tasks())
    back = kamrules(ws.root, "run", "--as-of", "2026-06-01", "--json")
    assert back.returncode == 2 and "earlier than the last run's (2026-11-01" in back.stderr
    assert json.loads(back.stdout)["exit_code"] == 2
    assert len(ws.crm().all_tasks()) == tasks
    refused = json.loads(kamrules(ws.root, "history", "--json").stdout)[0]
    assert (refused["mode"], refused["exit_code"], refused["as_of"]) == ("run", 2, "2026-06-01")
    plan = kamrules(ws.root, "plan", "--as-of", "2026-06-01", "--json")
    planned = json.loads(plan.stdout)
    closing = sum(1 for c in planned["changes"] if c["action"] == "close")
    assert plan.returncode == 0 and f"this plan would close {closing} task(s)" in plan.stderr
    assert [w["kind"] for w in planned["warnings"]].count("as_of") == 1  # in the report too
    forced = kamrules(ws.root, "run", "--as-of", "2026-06-01", "--force", "--json")
    assert forced.returncode == 0 and json.loads(forced.stdout)["counts"]["closed"] == closing


def test_a_run_refused_by_the_lock_is_in_the_history_and_the_json_report(
        workspace_factory: Callable[..., Workspace]) -> None:
    import fcntl

    ws = workspace_factory(SMALL)
    assert kamrules(ws.root, "run", "--as-of", "2026-11-01").returncode == 0
    (lock_file,) = ws.root.rglob("run-*.lock")
    with lock_file.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # another run holds this CRM
        locked = kamrules(ws.root, "run", "--as-of", "2026-11-02", "--json", "--lock-wait", "0")
    assert locked.returncode == 3, locked.stderr
    assert json.loads(locked.stdout)["exit_code"] == 3
    last = json.loads(kamrules(ws.root, "history", "--json").stdout)[0]
    assert (last["outcome"], last["exit_code"], last["as_of"]) == ("error", 3, "2026-11-02")


# --- 8. explain ---------------------------------------------------------------------------------

def test_explain_finds_accounts_like_a_person_and_marks_rules_out_of_scope(
        workspace_factory: Callable[..., Workspace]) -> None:
    ws = workspace_factory(SMALL)
    for query in ("baltic foods", "ACC-000002", "acc-000002", "Baltic"):
        proc = kamrules(ws.root, "explain", query, "--as-of", "2026-11-01")
        assert proc.returncode == 0, (query, proc.stderr)
        assert proc.stdout.startswith("Baltic Foods (ACC-000002)")
    out = kamrules(ws.root, "explain", "Baltic Foods", "--as-of", "2026-11-01").stdout
    assert "HOLDS KAM-REL-004" in out and "contacts=2" in out
    assert "=unknown" not in out and "=yes" not in out and "=null" in out
    near = kamrules(ws.root, "explain", "Baltik Fods")
    assert near.returncode == 2 and "did you mean 'Baltic Foods' (ACC-000002)" in near.stderr
    report = json.loads(kamrules(ws.root, "plan", "--as-of", "2026-11-01", "--json").stdout)
    key = {c["account_id"] for c in report["changes"]}
    other = next(a for a in SMALL["accounts"] if not a.get("is_key") and a["id"] not in key)
    lines = kamrules(ws.root, "explain", other["id"], "--as-of", "2026-11-01").stdout.splitlines()
    marked = [line for line in lines if "KAM-REL-004" in line][0]
    assert marked.startswith("n/a") and "(not applicable: key accounts only)" in marked


# --- 9. snoozes ---------------------------------------------------------------------------------

def test_snooze_by_name_closes_the_open_task_with_a_note_and_it_comes_back_after_expiry(
        workspace_factory: Callable[..., Workspace]) -> None:
    ws = workspace_factory(SMALL)
    today = date.today()
    fp = "kam-core/KAM-REL-004/ACC-000002"
    assert kamrules(ws.root, "run", "--as-of", today.isoformat()).returncode == 0
    assert [t.status for t in ws.crm().all_tasks() if t.fingerprint == fp] == ["open"]

    for bad, says in ((("--account", "Nobody Ltd", "--rule", "KAM-REL-004", "--days", "5"), "no account"),
                      (("--account", "Baltic Foods", "--rule", "KAM-REL-999", "--days", "5"), "no rule"),
                      (("--account", "Baltic Foods", "--rule", "play-risk", "--days", "5"),
                       "kam-core/PLAY-RISK is a play, and plays are not snoozed: switch it off for"
                       " every account with `overrides: {kam-core: {disable: [PLAY-RISK]}}`"),
                      # a checklist task's fingerprint names its bundle, which is no rule
                      (("--account", "Baltic Foods", "--rule", "Bundle:Buying_Centre", "--days", "5"),
                       "kam-core/bundle:buying_centre is a checklist, one task for an account's"
                       " findings of the rules KAM-REL-002, KAM-REL-003, KAM-REL-004"),
                      (("--account", "Baltic Foods", "--until", (today - timedelta(days=1)).isoformat()),
                       "in the past")):
        refused = kamrules(ws.root, "snooze", "add", *bad, "--reason", "x", "--by", "y")
        assert refused.returncode == 2 and says in " ".join(refused.stderr.split())
    added = kamrules(ws.root, "snooze", "add", "--account", "baltic foods", "--rule", "kam-rel-004",
                     "--reason", "Reorganisation at the customer", "--by", "alma", "--days", "5")
    assert added.returncode == 0 and "ACC-000002" in added.stdout and "Baltic Foods" in added.stdout

    report = json.loads(kamrules(ws.root, "run", "--as-of", today.isoformat(), "--json").stdout)
    actions = {c["action"] for c in report["changes"] if c["fingerprint"] == fp}
    assert actions == {"snoozed", "close"}
    row = ws.crm().db.execute("SELECT status, resolution FROM tasks WHERE fingerprint = ?", (fp,)).fetchone()
    assert row[0] == "closed"
    assert "alma" in row[1] and "Reorganisation" in row[1] and str(today + timedelta(days=5)) in row[1]

    again = json.loads(kamrules(ws.root, "run", "--as-of", today.isoformat(), "--json").stdout)
    assert {c["action"] for c in again["changes"] if c["fingerprint"] == fp} == {"snoozed"}
    later = (today + timedelta(days=6)).isoformat()
    back = json.loads(kamrules(ws.root, "run", "--as-of", later, "--json").stdout)
    assert {c["action"] for c in back["changes"] if c["fingerprint"] == fp} == {"create"}
    assert [t.status for t in ws.crm().all_tasks() if t.fingerprint == fp] == ["closed", "open"]


def test_a_hand_written_snooze_naming_no_account_id_is_a_warning(
        workspace_factory: Callable[..., Workspace]) -> None:
    ws = workspace_factory(SMALL)
    until = (date.today() + timedelta(days=3)).isoformat()
    (ws.root / "snoozes.yaml").write_text(
        f"snoozes:\n  - {{account: Baltic Foods, reason: x, requested_by: y, until: {until}}}\n")
    proc = kamrules(ws.root, "plan", "--as-of", date.today().isoformat())
    assert proc.returncode == 0, proc.stderr
    assert "no account has the id 'Baltic Foods', so this snooze never applies" in proc.stderr


def test_a_hand_written_snooze_naming_no_rule_is_a_warning_and_a_validate_error(
        workspace_factory: Callable[..., Workspace]) -> None:
    """A typo in a snooze's rule (or a rule renamed since) never applied, and nothing said so."""
    ws = workspace_factory(SMALL)
    until = (date.today() + timedelta(days=3)).isoformat()
    (ws.root / "snoozes.yaml").write_text(
        "snoozes:\n"
        f"  - {{account: ACC-000002, rule: KAM-REL-004, reason: x, requested_by: y, until: {until}}}\n"
        f"  - {{account: ACC-000002, rule: KAM-REL-404, reason: x, requested_by: y, until: {until}}}\n")
    said = "no loaded pack has the rule 'KAM-REL-404', so this snooze never applies"
    proc = kamrules(ws.root, "plan", "--as-of", date.today().isoformat())
    assert proc.returncode == 0 and said in proc.stderr and "KAM-REL-004'" not in proc.stderr
    checked = kamrules(ws.root, "validate")
    assert checked.returncode == 2 and f"snoozes.yaml:3:27: snoozes[1].rule: {said}" in checked.stderr


def test_a_command_stopped_by_an_error_still_prints_json(workspace_factory: Callable[..., Workspace]) -> None:
    ws = workspace_factory(SMALL)
    proc = kamrules(ws.root, "explain", "Nobody Ltd", "--format", "json")
    assert proc.returncode == 2
    assert json.loads(proc.stdout) == {"ok": False, "exit_code": 2, "problems": [],
                                       "error": "no account with id or name 'Nobody Ltd'"}
    (ws.root / "kamrules.yaml").write_text("packs: [kam-core]\nlifecycl: {}\n")
    bad = kamrules(ws.root, "rules", "--json")
    problem = json.loads(bad.stdout)["problems"][0]
    assert bad.returncode == 2 and problem["line"] == 2 and "lifecycl" in problem["message"]


def test_explain_reads_only_the_chunk_of_its_account_with_the_facts_of_the_whole_pull(
        tmp_path: Path, demo_records: dict[str, list[dict[str, object]]]) -> None:
    """On a streaming CRM explain reads the accounts' few fields, then chunk after chunk until
    its account's (at 100,000 accounts it held the whole pull: 714 MB, now 126-139 MB): the
    facts are those of the whole pull, whichever chunk the account is in."""
    from kamrules.cli.explain import account_view
    from kamrules.connectors.local.crm import LocalCrm
    from kamrules.evaluation.facts import account_views, facts_for
    from kamrules.run.cleaning import clean

    crm = LocalCrm(tmp_path / "crm.sqlite")
    for kind, rows in demo_records.items():
        crm.insert_records(kind, rows)  # type: ignore[arg-type]
    whole = clean(crm.pull(ANCHOR))
    views = {v.account.id: v for v in account_views(whole)}
    ids = [a.id for a in whole.accounts]
    other = next(a.id for a in whole.accounts if not a.is_key)
    for account_id in dict.fromkeys((ids[0], ids[len(ids) // 2], ids[-1], other)):
        view, chunk = account_view(crm, ANCHOR, account_id, size=37)
        assert view.account.id == account_id and len(chunk.accounts) <= 37
        assert facts_for(view) == facts_for(views[account_id]), account_id
    last = whole.accounts[-1]
    view, _ = account_view(crm, ANCHOR, f"  {last.name.upper()} ", size=37)  # by name, any case
    assert view.account.id == last.id
    crm.close()
