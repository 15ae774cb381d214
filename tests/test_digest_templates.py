"""Digest templates in packs: a pack's digest/ templates are used when the config names none, the
config's files override them, an extending pack has its base's, and a template that does not
compile (or reads an unknown name) is a located error before anything is pulled or sent. Against
a real local SMTP server (aiosmtpd) and a local webhook receiver, as tests/test_digest.py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from kamrules.cli.main import cli
from kamrules.connectors.local.crm import LocalCrm
from kamrules.inputs.shipped import builtin_dir
from tests.support import plays_sim as sim
from tests.support.receivers import SmtpServer, Webhook

EMAIL = """\
Hello {{ owner_name }}, {{ count }} {{ count | form("item", "items") }} on {{ as_of | date }}.
{% for account in accounts %}
# {{ account.name }} (worst: {{ account.worst }})
{% for i in account.entries %}
* {{ i.kind | upper }} {{ i.subject }}
{% endfor %}
{% endfor %}
"""
HTML = """\
<p>{{ intro }}</p><ul>{% for i in items %}<li>{{ i.account_name }}: {{ i.subject }}</li>{% endfor %}</ul>
"""


def _workspace(root: Path, smtp: SmtpServer, hook: Webhook, packs: str = "[kam-core]",
               extra: str = "") -> Path:
    root.mkdir()
    (root / "hook.url").write_text(hook.url + "\n")
    (root / "kamrules.yaml").write_text(
        f"crm: {{type: local, path: crm.sqlite, seed: empty}}\npacks: {packs}\nstate_dir: state\n"
        "digest:\n"
        f"  email: {{host: 127.0.0.1, port: {smtp.port}, security: none, sender: kam@example.com}}\n"
        f"  webhook: {{url: {{file: hook.url}}}}\n{extra}")
    crm = LocalCrm(root / "crm.sqlite")
    for kind, rows in sim.portfolio().items():
        crm.insert_records(kind, rows)
    crm.close()
    return root


def _ours(root: Path) -> None:
    """A pack extending kam-core with its own email templates (text and HTML), not chat's."""
    (root / "ours" / "digest").mkdir(parents=True)
    (root / "ours" / "pack.yaml").write_text(
        "id: ours\nversion: 1.0.0\ndescription: kam-core with our digest\nextends: kam-core\n")
    (root / "ours" / "digest" / "email.txt.j2").write_text(EMAIL)
    (root / "ours" / "digest" / "email.html.j2").write_text(HTML)


def _invoke(root: Path, *args: str) -> Any:
    return CliRunner().invoke(cli, ["--config", str(root / "kamrules.yaml"), *args])


def _run(root: Path) -> dict[str, Any]:
    result = _invoke(root, "run", "--as-of", sim.day(0).isoformat(), "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture
def receivers() -> Any:
    with SmtpServer() as smtp, Webhook() as hook:
        yield smtp, hook


def test_kam_core_ships_the_default_templates() -> None:
    folder = builtin_dir() / "kam-core" / "digest"
    names = {p.relative_to(folder).as_posix() for p in folder.rglob("*.j2")}
    assert names == {f"{lang}{name}" for lang in ("", "ru/", "sr/")
                     for name in ("subject.txt.j2", "email.txt.j2", "chat.j2")}


def _subject(message: Any) -> str:
    from email.header import decode_header, make_header

    return str(make_header(decode_header(message["Subject"])))


def _in_russian(root: Path) -> None:
    config = root / "kamrules.yaml"
    config.write_text(config.read_text() + "locale: ru\n")


def test_the_digest_is_written_in_the_locale(tmp_path: Path, receivers: Any) -> None:
    """With `locale: ru` the tasks were Russian and the digest around them English: its subject,
    intro, kinds, severities and play items."""
    smtp, hook = receivers
    root = tmp_path / "ws"
    _workspace(root, smtp, hook)
    _in_russian(root)
    assert _run(root)["digest"]["outcome"] == "ok"
    ana = next(m for m in smtp.messages if m["To"] == "ana@example.com")
    assert _subject(ana).startswith("kamrules: ") and " для Ana Owner на 1 нояб. 2026" in _subject(ana)
    text = ana.get_payload(decode=True).decode()
    assert text.startswith("Ваши ключевые клиенты требуют внимания.")
    assert ("  - [новая] Risky Metals: анализ рисков — отношения ослабевают (важность: критическая,"
            " срок 15 нояб. 2026") in text
    assert "сценарий начат: «Отношения под угрозой»" in text
    chats = [body["text"] for _, body in hook.received]
    assert all(t.startswith("*kamrules: ") and "Ваши ключевые клиенты" in t for t in chats)
    for english in ("[new]", "critical", "Your key accounts", "play started", "items for"):
        assert english not in text and not any(english in t for t in chats), english


def test_a_packs_own_template_replaces_its_bases_in_every_language(
        tmp_path: Path, receivers: Any) -> None:
    smtp, hook = receivers
    root = tmp_path / "ws"
    _workspace(root, smtp, hook, packs="[./ours]")
    _ours(root)  # its own English email: kam-core's Russian one is not taken over it
    _in_russian(root)
    _run(root)
    ana = next(m for m in smtp.messages if m["To"] == "ana@example.com")
    text = ana.get_payload()[0].get_payload(decode=True).decode()
    assert text.startswith("Hello Ana Owner, ")
    assert " для Ana Owner на " in _subject(ana)  # the subject and chat: kam-core's Russian
    assert all("[новая]" in body["text"] for _, body in hook.received)


def test_a_digest_folder_that_is_not_a_locale_is_named(tmp_path: Path) -> None:
    from kamrules.errors import ValidationFailed
    from kamrules.language.loader import load_pack

    _ours(tmp_path)
    (tmp_path / "ours" / "digest" / "Russian").mkdir()
    (tmp_path / "ours" / "digest" / "Russian" / "email.txt.j2").write_text("x")
    with pytest.raises(ValidationFailed, match="digest/Russian: 'Russian' is not a locale"):
        load_pack(tmp_path / "ours")


def test_a_packs_templates_are_used_and_its_base_gives_the_rest(tmp_path: Path, receivers: Any) -> None:
    smtp, hook = receivers
    root = tmp_path / "ws"
    _workspace(root, smtp, hook, packs="[./ours]")
    _ours(root)
    report = _run(root)
    assert report["digest"]["outcome"] == "ok" and len(smtp.messages) == 3
    ana = next(m for m in smtp.messages if m["To"] == "ana@example.com")
    assert ana.is_multipart() and ana.get_content_type() == "multipart/alternative"
    text, html = (part.get_payload(decode=True).decode() for part in ana.get_payload())
    assert text.startswith("Hello Ana Owner, ") and " items on Nov 1, 2026." in text
    assert "# Risky Metals (worst: critical)" in text and "* NEW Risky Metals: risk review" in text
    assert text.index("# Risky Metals") < text.index("# Nova Foods")  # accounts worst first
    assert "<li>Nova Foods: Nova Foods: first meeting after the win</li>" in html
    assert ana["Subject"].startswith("kamrules: ") and " items for Ana Owner on 2026-11-01" in ana["Subject"]
    # chat: kam-core's template, inherited
    assert all(body["text"].startswith("*kamrules: ") for _, body in hook.received)
    assert any("  - [new] critical: Risky Metals: risk review" in body["text"] for _, body in hook.received)


def test_the_configs_templates_override_the_packs(tmp_path: Path, receivers: Any) -> None:
    smtp, hook = receivers
    root = tmp_path / "ws"
    _workspace(root, smtp, hook, packs="[./ours]", extra=(
        "  templates: {email: mine/email.j2, chat: mine/chat.j2, subject: mine/subject.j2}\n"))
    _ours(root)
    (root / "mine").mkdir()
    (root / "mine" / "email.j2").write_text("Mine: {{ items | length }} for {{ owner_id }}\n")
    (root / "mine" / "chat.j2").write_text("chat {{ subject }}\n")
    (root / "mine" / "subject.j2").write_text("Digest\n  for {{ owner_name }}\n")
    _run(root)
    rita = next(m for m in smtp.messages if m["To"] == "rita@example.com")
    assert rita["Subject"] == "Digest for Rita Owner"  # one line
    text = rita.get_payload()[0].get_payload(decode=True).decode()  # the pack's HTML part stays
    assert text.startswith("Mine: ") and text.strip().endswith("for U3")
    assert {body["text"] for _, body in hook.received} == {
        "chat Digest for Ana Owner\n", "chat Digest for Ed Sponsor\n", "chat Digest for Rita Owner\n"}


@pytest.mark.parametrize(("where", "source", "message"), [
    ("pack", "{% for a in accounts %}{{ a.name }\n", "email.txt.j2:1:1: email: not a valid Jinja"),
    ("pack", "{{ owner_name | shout }}", "email.txt.j2:1:1: email: not a valid Jinja template: No filter"),
    ("pack", "{{ account_name }}", "email.txt.j2: email: unknown name(s) account_name;"),
    ("config", "line one\n{% if %}\n", "bad.j2:2:1: chat: not a valid Jinja template"),
])
def test_a_template_that_does_not_compile_is_a_located_error_before_any_pull(
        tmp_path: Path, receivers: Any, where: str, source: str, message: str) -> None:
    smtp, hook = receivers
    root = tmp_path / "ws"
    _workspace(root, smtp, hook, packs="[./ours]",
               extra="  templates: {chat: bad.j2}\n" if where == "config" else "")
    _ours(root)
    if where == "config":
        (root / "bad.j2").write_text(source)
    else:
        (root / "ours" / "digest" / "email.txt.j2").write_text(source)
    result = _invoke(root, "run", "--as-of", sim.day(0).isoformat())
    assert result.exit_code == 2, result.output
    assert message in result.output
    crm = LocalCrm(root / "crm.sqlite")
    assert crm.all_tasks() == []  # nothing pulled, nothing written
    crm.close()
    assert smtp.messages == [] and hook.received == []
    if where == "pack":
        validate = CliRunner().invoke(cli, ["validate", str(root / "ours")])
        assert validate.exit_code == 2 and message in validate.output


def test_a_stray_file_in_a_packs_digest_folder_is_named(tmp_path: Path) -> None:
    from kamrules.errors import ValidationFailed
    from kamrules.language.loader import load_pack

    _ours(tmp_path)
    (tmp_path / "ours" / "digest" / "email.j2").write_text("x")
    with pytest.raises(ValidationFailed, match="email.j2: not a digest template; a pack's digest/ holds"):
        load_pack(tmp_path / "ours")


def test_a_template_failing_on_the_values_fails_the_digest_not_the_write_back(
        tmp_path: Path, receivers: Any) -> None:
    smtp, hook = receivers
    root = tmp_path / "ws"
    _workspace(root, smtp, hook, packs="[./ours]")
    _ours(root)
    (root / "ours" / "digest" / "email.txt.j2").write_text("{{ intro | date }}\n")  # not a date
    report = _run(root)
    assert report["exit_code"] == 0 and report["counts"]["created"] > 0  # the tasks are written
    assert report["digest"]["outcome"] == "failed"
    emails = [m for m in report["digest"]["messages"] if m["channel"] == "email"]
    assert len(emails) == 3 and {m["status"] for m in emails} == {"failed"}
    assert all(m["error"].startswith("the digest template failed: ValueError") for m in emails)
    assert smtp.messages == [] and len(hook.received) == 3  # chat's template is kam-core's: sent
