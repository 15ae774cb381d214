"""kam-core's play steps read as people write (issue: tasks that read machine-made): their
texts are Jinja, as the pack's rules are, with plural forms, dates and percentages in the
run's language, and only the signs that hold. They read "до конца договора дней: 60",
"(-5 days left)" for a lapsed contract, and "risk signs: satisfaction change 1" for a risk that
was not one."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from tests.support import plays_sim as sim

N = "\u202f"  # Babel's narrow no-break space in a Russian date
WRITTEN = {
    "en": ("Lapsed Cables: open the renewal opportunity (the contract lapsed)",
           "The contract with Lapsed Cables ended on Oct 22, 2026 and is not renewed (P40).",
           "Risky Metals shows the signs of a relationship at risk:\n"
           "- satisfaction fell by 3 points in the last survey\nNext:",
           "Nova Foods placed its first order on Oct 30, 2026. Meet them now:"),
    "ru": ("Lapsed Cables: открыть возможность по продлению (договор истёк)",
           f"Договор с Lapsed Cables истёк 22 окт. 2026{N}г. и не продлён (P40).",
           "У Risky Metals признаки того, что отношения под угрозой:\n"
           "- удовлетворённость в последнем опросе упала на 3 балла\nЧто сделать:",
           f"Nova Foods разместил первый заказ (30 окт. 2026{N}г.). Встретьтесь сейчас:"),
    "sr_Latn": ("Lapsed Cables: otvorite priliku za obnovu (ugovor je istekao)",
                "Ugovor sa Lapsed Cables istekao je 22. 10. 2026. i nije obnovljen (P40).",
                "Risky Metals pokazuje znake da je odnos ugrožen:\n"
                "- zadovoljstvo je u poslednjoj anketi palo za 3 boda\nSledeći korak:",
                "Nova Foods je dao prvu porudžbinu (30. 10. 2026.). Sastanite se sada:"),
}


@pytest.mark.parametrize("locale", sorted(WRITTEN))
def test_play_steps_read_as_people_write_in_each_language(tmp_path: Path, locale: str) -> None:
    records = sim.portfolio()
    records["accounts"].append({"id": "ACC-LAP", "name": "Lapsed Cables", "owner_id": "U3",
                                "is_key": True})
    records["contracts"].append({"account_id": "ACC-LAP", "renewal_status": "none",
                                 "end_date": (sim.START - timedelta(days=10)).isoformat()})
    crm = sim.run_nights(tmp_path, records, extra=f"locale: {locale}\n")
    tasks = {t.fingerprint: t for t in crm.all_tasks()}
    subject, lapsed, risk, onboard = WRITTEN[locale]
    renewal = tasks["kam-core/PLAY-RENEWAL/ACC-LAP/renewal-opportunity"]
    assert renewal.subject == subject
    assert renewal.body.startswith(lapsed)
    assert tasks["kam-core/PLAY-RISK/ACC-RSK/risk-review"].body.startswith(risk)
    assert tasks["kam-core/PLAY-ONBOARD/ACC-ONB/first-meeting"].body.startswith(onboard)


def test_days_left_take_their_plural_form() -> None:
    """A contract ending in 1, 3 or 60 days: `1 day`, `3 дня`, `60 dana` (the subject read
    "60 days left" and "дней: 1" whatever the number)."""
    from kamrules.language.loader import builtin_dir, load_pack
    from kamrules.language.template import render_jinja
    from kamrules.playbooks.loader import load_plays

    pack = load_pack(builtin_dir() / "kam-core")
    play = next(p for p in load_plays(pack) if p.id == "PLAY-RENEWAL")
    step = play.step("renewal-opportunity")
    shown = {}
    for locale in ("en", "ru", "sr_Latn"):
        words = pack.step_text(play, step, locale)
        shown[locale] = [render_jinja(words.subject, {"account_name": "A", "days_to_contract_end": d},
                                      locale, "EUR", sim.START) for d in (1, 3, 60)]
    assert shown == {
        "en": ["A: open the renewal opportunity (1 day left)",
               "A: open the renewal opportunity (3 days left)",
               "A: open the renewal opportunity (60 days left)"],
        "ru": ["A: открыть возможность по продлению (до конца договора 1 день)",
               "A: открыть возможность по продлению (до конца договора 3 дня)",
               "A: открыть возможность по продлению (до конца договора 60 дней)"],
        "sr_Latn": ["A: otvorite priliku za obnovu (do isteka ugovora 1 dan)",
                    "A: otvorite priliku za obnovu (do isteka ugovora 3 dana)",
                    "A: otvorite priliku za obnovu (do isteka ugovora 60 dana)"],
    }


def test_a_step_text_failing_on_an_account_falls_back_to_plain_text(tmp_path: Path) -> None:
    """A Jinja step text that fails on an account's values (here a division by zero) still
    writes a task, as a rule's text does: the step's title, the rationale and the facts."""
    ext = tmp_path / "ext"
    (ext / "playbooks").mkdir(parents=True)
    (ext / "pack.yaml").write_text("id: ext\nversion: 1.0.0\ndescription: x\nextends: kam-core\n"
                                   "disable: [PLAY-ONBOARD, PLAY-RISK, PLAY-RENEWAL]\n")
    (ext / "playbooks" / "p.yaml").write_text(
        "- id: PLAY-CALL\n  title: Call\n  rationale: Call before it ends.\n"
        "  trigger: {when: {fact: days_to_contract_end, le: 150}}\n  steps:\n"
        "    - id: call\n      title: Owner's call\n"
        "      task: {subject: '{{ account_name }}: {{ 1 // (days_to_contract_end * 0) }}',"
        " body: '{{ account_name }}', due_in_days: 7}\n")
    crm = sim.run_nights(tmp_path, sim.portfolio(), packs=f"['{ext}']")
    task = next(t for t in crm.all_tasks() if t.fingerprint == "ext/PLAY-CALL/ACC-REN/call")
    assert task.subject == "Renew Logistics: Owner's call"
    assert task.body.startswith("Call before it ends.\n\n")
    assert "days_to_contract_end: 130" in task.body and "(ZeroDivisionError)" in task.body


def test_a_simple_syntax_step_text_is_made_safe_as_a_jinja_one(tmp_path: Path) -> None:
    """A pack in the simple `{name}` syntax (an extending pack's default) wrote its play step's
    subject as rendered: an account name holding a line break, an escape sequence or a leading
    `=` went into the CRM's subject line as it was, while the same step in Jinja (and every rule
    task) was made one line, terminal-safe and not a spreadsheet formula."""
    ext = tmp_path / "ext"
    (ext / "playbooks").mkdir(parents=True)
    (ext / "pack.yaml").write_text("id: ext\nversion: 1.0.0\ndescription: x\nextends: kam-core\n"
                                   "disable: [PLAY-ONBOARD, PLAY-RISK, PLAY-RENEWAL]\n"
                                   "template_syntax: simple\n")
    (ext / "playbooks" / "p.yaml").write_text(
        "- id: PLAY-CALL\n  title: Call\n  rationale: Call before it ends.\n"
        "  trigger: {when: {fact: days_to_contract_end, le: 150}}\n  steps:\n"
        "    - id: call\n      title: Owner's call\n"
        "      task: {subject: '{account_name} call', body: 'Call {account_name}.', due_in_days: 7}\n")
    records = sim.portfolio()
    for account in records["accounts"]:
        if account["id"] == "ACC-REN":
            account["name"] = "=HYPERLINK(\"http://x\")\r\nRenew \x1b[31mLogistics"
    crm = sim.run_nights(tmp_path, records, packs=f"['{ext}']")
    task = next(t for t in crm.all_tasks() if t.fingerprint == "ext/PLAY-CALL/ACC-REN/call")
    assert task.subject.startswith("'=HYPERLINK") and "\n" not in task.subject
    assert "\r" not in task.subject and "\x1b" not in task.subject + task.body
    assert task.subject.endswith("Renew Logistics call")
