"""Play step tasks and their escalations in the run's locale (they were English beside Russian
or Serbian rule tasks); a translated play or step that is not the pack's is a located error; an
extending pack's own translation adds to its base's instead of replacing it."""

from __future__ import annotations

from pathlib import Path

import pytest

from kamrules.errors import ValidationFailed
from kamrules.language.loader import builtin_dir, load_pack
from kamrules.playbooks.loader import load_plays
from tests.support import plays_sim as sim

STEP = "kam-core/PLAY-ONBOARD/ACC-ONB/first-meeting"
WRITTEN = {
    "ru": ("Nova Foods: первая встреча после победы",
           "Просрочено: Nova Foods: первая встреча после победы",
           "Шаг «Первая встреча в новых отношениях» сценария «Ввод в отношения после первой победы»"
           " для Nova Foods нужно было выполнить к 15 нояб. 2026\u202fг.; просрочен на 7 дней"),
    "sr_Latn": ("Nova Foods: prvi sastanak posle pobede",
                "Kasni: Nova Foods: prvi sastanak posle pobede",
                "Korak „Prvi sastanak novog odnosa” scenarija „Uvod u odnos posle prve pobede” za"
                " Nova Foods trebalo je završiti do 15. 11. 2026.; kasni 7 dana"),
    "en": ("Nova Foods: first meeting after the win", "Overdue: Nova Foods: first meeting after the win",
           'The step "First meeting of the new relationship" of the play "Onboarding after the'
           ' first win" for Nova Foods was due on Nov 15, 2026 and is 7 days overdue'),
}


@pytest.mark.parametrize("locale", sorted(WRITTEN))
def test_play_tasks_and_escalations_are_written_in_the_locale(tmp_path: Path, locale: str) -> None:
    crm = sim.run_nights(tmp_path, sim.portfolio(), nights=(0, sim.NIGHT_ESCALATION),
                         extra=f"locale: {locale}\n")
    tasks = {t.fingerprint: t for t in crm.all_tasks()}
    subject, escalated, why = WRITTEN[locale]
    assert tasks[STEP].subject == subject
    escalation = tasks[STEP + ".escalation"]
    assert escalation.subject == escalated and escalation.body.startswith(why)
    if locale == "en":
        return
    core = load_pack(builtin_dir() / "kam-core")
    english = {p.rationale.strip()[:40] for p in load_plays(core)}
    english |= {s.task.body.strip()[:40] for p in load_plays(core) for s in p.steps}
    plays = [t for t in tasks.values() if "/PLAY-" in t.fingerprint]
    assert plays and not [t.fingerprint for t in plays
                          if any(e in t.body for e in english) or "Next:" in t.body]


def test_every_play_step_of_kam_core_is_translated() -> None:
    pack = load_pack(builtin_dir() / "kam-core")
    for language in ("ru", "sr"):
        tr = pack.translations[language]
        for play in load_plays(pack):
            assert tr.plays[play.id].title and tr.plays[play.id].rationale
            assert set(tr.plays[play.id].steps) == {s.id for s in play.steps}, (language, play.id)
            for step in play.steps:
                text = tr.plays[play.id].steps[step.id]
                assert text.title and text.body != step.task.body


def _extending(root: Path, translation: str) -> Path:
    ext = root / "ext"
    (ext / "translations").mkdir(parents=True)
    (ext / "pack.yaml").write_text("id: ext\nversion: 1.0.0\ndescription: e\nextends: kam-core\n")
    (ext / "translations" / "ru.yaml").write_text(translation, encoding="utf-8")
    return ext


def test_a_play_or_step_not_in_the_pack_is_located(tmp_path: Path) -> None:
    ext = _extending(tmp_path, "plays:\n  PLAY-ONBORD: {title: x}\n  PLAY-RISK:\n    steps:\n"
                               "      risk-reveiw: {subject: s, body: b}\n")
    with pytest.raises(ValidationFailed) as exc:
        load_plays(load_pack(ext))
    file = ext / "translations" / "ru.yaml"
    assert [str(p) for p in exc.value.problems] == [
        f"{file}:2:3: plays.PLAY-ONBORD: no play 'PLAY-ONBORD' in pack 'ext' (did you mean"
        " 'PLAY-ONBOARD'?)",
        f"{file}:5:7: plays.PLAY-RISK.steps.risk-reveiw: play PLAY-RISK has no step 'risk-reveiw'"
        " (did you mean 'risk-review'?); its steps: risk-review, decision-maker-meeting,"
        " plan-in-writing"]


def test_an_extending_pack_translation_adds_to_its_base(tmp_path: Path) -> None:
    """Its own ru.yaml (here: one play's title) replaced kam-core's Russian whole: the base's
    rules and plays went back to English."""
    ext = load_pack(_extending(tmp_path, "plays:\n  PLAY-RISK: {title: Риск}\n"))
    core = load_pack(builtin_dir() / "kam-core")
    rule = core.rules[0]
    assert ext.text(rule, "ru") == core.text(rule, "ru") != core.text(rule, "en")
    assert ext.principle_names(rule, "ru") == core.principle_names(rule, "ru")
    risk = next(p for p in load_plays(core) if p.id == "PLAY-RISK")
    words = ext.step_text(risk, risk.steps[0], "ru")
    assert words.play_title == "Риск"
    assert words.subject == core.step_text(risk, risk.steps[0], "ru").subject != risk.steps[0].task.subject


def test_an_escalation_writes_the_account_and_people_as_safe_text(tmp_path: Path) -> None:
    """The escalation's body named the account and the step's owner as the CRM holds them: an
    escape sequence or a line break in a name reached the task as it was (every other task
    text is made terminal-safe, and its subject one line)."""
    records = sim.portfolio()
    for account in records["accounts"]:
        if account["id"] == "ACC-ONB":
            account["name"] = "Nova \x1b[31mFoods\r\n=1+1"
    crm = sim.run_nights(tmp_path, records, nights=(0, sim.NIGHT_ESCALATION))
    tasks = {t.fingerprint: t for t in crm.all_tasks()}
    escalation = tasks[STEP + ".escalation"]
    assert "\x1b" not in escalation.body + escalation.subject and "\r" not in escalation.body
    assert "\n" not in escalation.subject and escalation.subject.startswith("Overdue: Nova ")
    assert "Nova [31mFoods" not in escalation.body and "for Nova Foods" in escalation.body


@pytest.mark.parametrize(("locale", "nobody"), [("en", "(nobody is assigned)"),
                                                ("ru", "(ответственный не назначен)"),
                                                ("sr_Latn", "(niko nije zadužen)")])
def test_an_escalation_of_a_step_nobody_owns_says_so_in_the_locale(
        tmp_path: Path, locale: str, nobody: str) -> None:
    """An overdue step of an account without an owner read "(ответственный: unassigned)"."""
    records = sim.portfolio()
    for account in records["accounts"]:
        if account["id"] == "ACC-ONB":
            account.pop("owner_id", None)
    crm = sim.run_nights(tmp_path, records, nights=(0, sim.NIGHT_ESCALATION),
                         extra=f"locale: {locale}\n")
    escalation = {t.fingerprint: t for t in crm.all_tasks()}[STEP + ".escalation"]
    assert nobody in escalation.body and "unassigned" not in escalation.body
