"""Digests against a real local SMTP server (aiosmtpd) and a local webhook receiver: content,
one message per owner, no resend after a crash elsewhere, a failed send retried next run, the
same Message-ID on a repeat, `plan` shows what would be sent, `--no-digest` sends nothing."""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from kamrules.cli.main import cli
from kamrules.connectors.local.crm import LocalCrm
from tests import kamrules_process
from tests.conftest import ROOT
from tests.support import plays_sim as sim
from tests.support.receivers import SmtpServer, Webhook

EMAILS = {"U1": "ana@example.com", "U2": "ed@example.com", "U3": "rita@example.com"}


def _workspace(root: Path, smtp: SmtpServer, hook: Webhook) -> Path:
    root.mkdir()
    (root / "hook.url").write_text(hook.url + "\n")
    (root / "kamrules.yaml").write_text(
        "crm: {type: local, path: crm.sqlite, seed: empty}\npacks: [kam-core]\nstate_dir: state\n"
        "digest:\n"
        f"  email: {{host: 127.0.0.1, port: {smtp.port}, security: none, sender: kam@example.com}}\n"
        "  webhook: {url: {file: hook.url}}\n")
    crm = LocalCrm(root / "crm.sqlite")
    for kind, rows in sim.portfolio().items():
        crm.insert_records(kind, rows)
    crm.close()
    return root


def _run(root: Path, night: int, *extra: str, command: str = "run") -> dict[str, Any]:
    result = CliRunner().invoke(cli, ["--config", str(root / "kamrules.yaml"), command, "--as-of",
                                      sim.day(night).isoformat(), "--json", *extra])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _cli(root: Path, night: int, crash: str | None = None) -> int:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("KAMRULES_CRASH_AT", None)
    if crash:
        env["KAMRULES_CRASH_AT"] = crash
    return kamrules_process.run(["run", "--as-of", sim.day(night).isoformat(), "--json"], cwd=root,
                                env=env, timeout=120).returncode


@pytest.fixture
def receivers() -> Any:
    with SmtpServer() as smtp, Webhook() as hook:
        yield smtp, hook


def test_one_message_per_owner_with_new_items_grouped_by_account(tmp_path: Path, receivers: Any) -> None:
    smtp, hook = receivers
    root = _workspace(tmp_path / "ws", smtp, hook)
    report = _run(root, 0)
    assert report["digest"]["outcome"] == "ok"
    owners = {c["owner_id"] for c in report["changes"] if c["action"] == "create"}
    assert owners == {"U1", "U2", "U3"}
    assert Counter(m["To"] for m in smtp.messages) == dict.fromkeys(EMAILS.values(), 1)
    assert len(hook.received) == 3
    ana = next(m for m in smtp.messages if m["To"] == "ana@example.com")
    text = ana.get_payload()
    assert "Nova Foods (ACC-ONB)" in text and "Risky Metals (ACC-RSK)" in text
    assert "Renew Logistics" not in text  # Rita's account, Rita's message
    assert "[new] high: Nova Foods: first meeting after the win" in text
    assert "[play] info: play started: Relationship at risk" in text
    # the critical risk play's account comes before the onboarding account
    assert text.index("Risky Metals (ACC-RSK)") < text.index("Nova Foods (ACC-ONB)")
    ids = {m["owner_id"]: m["message_id"] for m in report["digest"]["messages"] if m["channel"] == "email"}
    assert ana["Message-ID"] == ids["U1"]
    hook_ids = {m["message_id"].strip("<>") for m in report["digest"]["messages"]
                if m["channel"] == "webhook"}
    assert {h["Idempotency-Key"] for h, _ in hook.received} == hook_ids
    assert all(body["text"].startswith("*kamrules: ") for _, body in hook.received)
    assert "secret" not in json.dumps(report)  # the webhook URL is a credential

    again = _run(root, 0)
    assert {m["status"] for m in again["digest"]["messages"]} == {"already_sent"}
    assert len(smtp.messages) == 3 and len(hook.received) == 3


def test_plan_shows_the_digest_and_no_digest_skips_it(tmp_path: Path, receivers: Any) -> None:
    smtp, hook = receivers
    root = _workspace(tmp_path / "ws", smtp, hook)
    plan = _run(root, 0, command="plan")
    assert {m["status"] for m in plan["digest"]["messages"]} == {"planned"}
    assert {m["owner_id"] for m in plan["digest"]["messages"]} == set(EMAILS)
    report = _run(root, 0, "--no-digest")
    assert report["digest"] is None and report["counts"]["created"] > 0
    assert smtp.messages == [] and hook.received == []


def test_a_webhook_that_answers_without_end_is_not_waited_for(tmp_path: Path) -> None:
    """Its status is the answer: a body sent a byte at a time (8 s each, three owners) held the
    run's end; it is never read now."""
    import time

    from tests.support.endless import TRICKLE_SECONDS, Endless

    with SmtpServer() as smtp, Endless("trickle") as endpoint:
        root = _workspace(tmp_path / "ws", smtp, Webhook())
        (root / "hook.url").write_text(endpoint.url + "/services/T000/B000/secret\n")
        started = time.monotonic()
        report = _run(root, 0)
        assert time.monotonic() - started < TRICKLE_SECONDS
        hooks = [m for m in report["digest"]["messages"] if m["channel"] == "webhook"]
        assert len(hooks) == 3 and {m["status"] for m in hooks} == {"sent"}
        assert endpoint.requests == 3


def test_servers_that_answer_a_byte_at_a_time_are_cut_off_at_their_deadline(tmp_path: Path) -> None:
    """A webhook's status line and headers, an SMTP server's greeting, a byte every 10 ms for
    8 s: each read came in time, and a run waited 8 s per message (three owners, two
    channels). Now each send fails at 10 x timeout_seconds, recorded to be sent next run."""
    import time

    from tests.support.endless import TRICKLE_SECONDS, Endless, SlowSmtp

    with SlowSmtp(every=0.01) as smtp, Endless("headers", every=0.01) as endpoint:
        root = _workspace(tmp_path / "ws", smtp, Webhook())  # type: ignore[arg-type]
        config = root / "kamrules.yaml"
        config.write_text(config.read_text().replace(".com}", ".com, timeout_seconds: 0.05}")
                          .replace("hook.url}}", "hook.url}, timeout_seconds: 0.05}"))
        (root / "hook.url").write_text(endpoint.url + "/services/T000/B000/secret\n")
        started = time.monotonic()
        report = _run(root, 0)
        assert time.monotonic() - started < TRICKLE_SECONDS
        failed = report["digest"]["messages"]
        assert len(failed) == 6 and {m["status"] for m in failed} == {"failed"}
        assert {m["error"] for m in failed} == {
            "AnswerTooSlow: an answer still coming after 0.5 seconds (10 x timeout_seconds)"}
        assert smtp.connections == 3 and endpoint.requests == 3
        assert report["counts"]["created"] > 0


def test_failed_send_is_retried_next_run_and_never_fails_the_write_back(tmp_path: Path) -> None:
    with SmtpServer() as smtp, Webhook(fail=2) as hook:
        root = _workspace(tmp_path / "ws", smtp, hook)
        first = _run(root, 0)
        assert first["exit_code"] == 0 and first["counts"]["failed"] == 0
        assert first["digest"]["outcome"] == "failed"
        failed = [m for m in first["digest"]["messages"] if m["status"] == "failed"]
        assert {m["channel"] for m in failed} == {"webhook"} and len(failed) == 2  # of 3
        assert all("***" in (m["error"] or "") or "500" in (m["error"] or "") for m in failed)
        second = _run(root, 1)
        retried = [m for m in second["digest"]["messages"] if m["message_id"] in
                   {f["message_id"] for f in failed}]
        assert {m["status"] for m in retried} == {"sent"}
        keys = [h["Idempotency-Key"] for h, _ in hook.received]
        assert {f["message_id"].strip("<>") for f in failed} <= set(keys)


def test_no_resend_after_a_crash_elsewhere_and_same_id_on_a_repeat(tmp_path: Path) -> None:
    with SmtpServer() as smtp, Webhook() as hook:
        root = _workspace(tmp_path / "a", smtp, hook)
        assert _cli(root, 0, "write:3") == 137
        assert _cli(root, 0) == 0
        assert Counter(m["To"] for m in smtp.messages) == dict.fromkeys(EMAILS.values(), 1)
        assert _cli(root, 0) == 0  # and a plain rerun sends nothing
        assert len(smtp.messages) == 3 and len(hook.received) == 3

    with SmtpServer() as smtp, Webhook() as hook:
        root = _workspace(tmp_path / "b", smtp, hook)
        assert _cli(root, 0, "digest_sent:1") == 137  # sent, killed before it was recorded
        assert _cli(root, 0) == 0
        ids = Counter(m["Message-ID"] for m in smtp.messages)
        assert sorted(ids.values()) == [1, 1, 2]  # the repeat carries the same Message-ID
        assert len(hook.received) == 3


def test_escalated_and_overdue_items_reach_their_owners(tmp_path: Path, receivers: Any) -> None:
    smtp, hook = receivers
    root = _workspace(tmp_path / "ws", smtp, hook)
    _run(root, 0)
    first = len(smtp.messages)
    _run(root, sim.NIGHT_ESCALATION)
    night = {m["To"]: m.get_payload() for m in smtp.messages[first:]}
    ana, ed = night["ana@example.com"], night["ed@example.com"]
    assert "[escalated] high: Nova Foods: first meeting after the win, due 2026-11-15" in ana
    assert "[escalated] critical: Risky Metals: risk review" in ana
    assert "[overdue]" in ana  # rule tasks from night 0 past their due date
    assert "[new] high: Overdue: Nova Foods: first meeting after the win" in ed


def test_starttls_and_login_with_credentials_from_env_and_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.support.salesforce import make_cert

    cert = make_cert(tmp_path / "tls")
    monkeypatch.setenv("KR_SMTP_USER", "kam-relay")
    (tmp_path / "smtp-password").write_text("p4ss-w0rd-s3cret\n")
    with SmtpServer(cert=cert, login=("kam-relay", "p4ss-w0rd-s3cret")) as smtp, Webhook() as hook:
        root = _workspace(tmp_path / "ws", smtp, hook)
        config = (root / "kamrules.yaml").read_text().replace(
            "security: none,",
            f"security: starttls, timeout_seconds: 3, ca_bundle: '{cert[0]}',"
            " username: {env: KR_SMTP_USER},"
            f" password: {{file: '{tmp_path / 'smtp-password'}'}},")
        (root / "kamrules.yaml").write_text(config)
        report = _run(root, 0)
        assert report["digest"]["outcome"] == "ok" and len(smtp.messages) == 3
        assert smtp.logins == ["kam-relay"] * 3
        (tmp_path / "smtp-password").write_text("wrong\n")
        failed = _run(root, 10)  # tasks of night 0 overdue: a message for each owner
        assert failed["exit_code"] == 0 and failed["digest"]["outcome"] == "failed"
        errors = [m["error"] for m in failed["digest"]["messages"] if m["status"] == "failed"]
        # refused (535, then aiosmtpd stalls the second mechanism smtplib tries): failed either way
        assert errors and all(e.startswith("SMTP") for e in errors)
        assert "p4ss" not in json.dumps(failed) and "wrong" not in json.dumps(failed)


def test_implicit_tls_checks_the_relays_certificate(tmp_path: Path) -> None:
    """`security: tls` (SMTPS): connected after the deadline's timer starts, with the name the
    certificate is checked against set as the constructor would (inputs/deadline.py)."""
    from tests.support.salesforce import make_cert

    cert = make_cert(tmp_path / "tls")
    with SmtpServer(cert=cert, implicit=True) as smtp, Webhook() as hook:
        root = _workspace(tmp_path / "ws", smtp, hook)
        config = root / "kamrules.yaml"
        config.write_text(config.read_text().replace(
            "security: none,", f"security: tls, timeout_seconds: 3, ca_bundle: '{cert[0]}',"))
        report = _run(root, 0)
        assert report["digest"]["outcome"] == "ok" and len(smtp.messages) == 3
        config.write_text(config.read_text().replace(f"ca_bundle: '{cert[0]}',", ""))
        failed = _run(root, 10)  # not a certificate this machine trusts: refused, not sent
        errors = [m["error"] for m in failed["digest"]["messages"] if m["channel"] == "email"]
        assert errors and all("CERTIFICATE_VERIFY_FAILED" in e for e in errors), errors
        assert len(smtp.messages) == 3


def test_an_owner_email_or_name_with_a_line_break_is_a_skipped_message_not_a_crash(
        tmp_path: Path, receivers: Any) -> None:
    """CRM text that a mail header cannot hold: an email with a `\\r\\n Bcc:` (exit 5 after the
    write-back, and a header injection had it been sent) is skipped with the reason, a name
    with a line break is one line in the subject; the other owners get theirs."""
    smtp, hook = receivers
    root = _workspace(tmp_path / "ws", smtp, hook)
    with (root / "kamrules.yaml").open("a") as config:
        config.write("  subject: 'Digest for {owner_name}'\n")
    crm = LocalCrm(root / "crm.sqlite")
    crm.db.execute("UPDATE users SET email = 'ed@example.com\r\nBcc: evil@example.com'"
                   " WHERE id = 'U2'")
    crm.db.execute("UPDATE users SET name = 'Ana' || char(10) || 'Novak' WHERE id = 'U1'")
    crm.close()
    report = _run(root, 0)
    assert report["exit_code"] == 0 and report["counts"]["created"] > 0
    email = {m["owner_id"]: m for m in report["digest"]["messages"] if m["channel"] == "email"}
    assert email["U2"]["status"] == "skipped" and "not one address" in email["U2"]["error"]
    assert (email["U1"]["status"], email["U3"]["status"]) == ("sent", "sent")
    assert email["U1"]["subject"] == "Digest for Ana Novak"
    assert sorted(m["To"] for m in smtp.messages) == ["ana@example.com", "rita@example.com"]
    assert not any("evil" in str(m) for m in smtp.messages)


def test_a_subject_and_intro_read_every_name_they_may_and_a_misspelt_one_is_refused(
        tmp_path: Path, receivers: Any) -> None:
    """`subject: "{cnt} items"` passed validate and went out as "{cnt} items" to every owner;
    Jinja's `{{ owner_name }}` as "{ owner_name }". Each is refused at its line; the names the
    refusal offers are the ones a message fills in."""
    from kamrules.digest.config import LINE_NAMES

    smtp, hook = receivers
    root = _workspace(tmp_path / "ws", smtp, hook)
    config = root / "kamrules.yaml"
    base = config.read_text()
    for line, expected in (
            ("  subject: '{cnt} items'\n", "kamrules.yaml:7:3: digest.subject: unknown placeholder"
                                           " {cnt} (did you mean 'count'?)"),
            ("  intro: 'Hello {{ owner_name }}'\n", "kamrules.yaml:7:3: digest.intro: {{ owner_name }}"
                                                   " is Jinja's syntax")):
        config.write_text(base + line)
        refused = CliRunner().invoke(cli, ["--config", str(config), "validate"])
        assert refused.exit_code == 2 and expected in " ".join(refused.output.split()), refused.output
    every = " ".join(f"[{n}={{{n}}}]" for n in LINE_NAMES)
    config.write_text(base + f"  subject: '{every} {{{{x}}}}'\n  intro: 'Intro {every}'\n")
    report = _run(root, 0)
    assert report["digest"]["outcome"] == "ok"
    sent = next(m for m in report["digest"]["messages"]
                if m["owner_id"] == "U1" and m["channel"] == "email")
    filled = re.fullmatch(r"\[count=(\d+)\] \[owner_name=Ana Owner\] \[as_of=(\S+)\] \{x\}",
                          sent["subject"])
    assert filled and int(filled[1]) > 0 and filled[2] == sim.day(0).isoformat(), sent["subject"]
    mail = next(m for m in smtp.messages if m["To"] == "ana@example.com")
    body = mail.get_payload(decode=True).decode().replace("\r\n", "\n")
    assert body.startswith(f"Intro [count={filled[1]}] [owner_name=Ana Owner] [as_of={filled[2]}]\n")
