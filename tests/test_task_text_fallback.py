"""A task text whose template meets a value it did not expect falls back to plain text with the
finding's evidence, never a crash; rendered later (a run's pending texts) it is the same text,
although the evidence is made into text only there (its template reads no `evidence`)."""

from __future__ import annotations

from kamrules.evaluation.engine import Engine
from kamrules.language.loader import builtin_dir, load_pack
from kamrules.language.packtest import case_facts, cases_of
from kamrules.model import Snapshot
from kamrules.writeback.tasks import Directory, PendingText, build_task, evidence_text, rendered_text

PACK_DIR = builtin_dir() / "kam-core"


def test_a_template_that_fails_renders_the_same_plain_text_now_and_later() -> None:
    pack = load_pack(PACK_DIR)
    engine = Engine([pack])
    checked = 0
    for item in cases_of(PACK_DIR):
        facts = case_facts(item)
        assert not isinstance(facts, str), facts
        account, values = facts
        snapshot = Snapshot.model_validate({"as_of": item.as_of, **item.records})
        directory = Directory.from_snapshot(snapshot, "U9")
        rules = {r.id: r for r in pack.rules}
        for finding in engine.findings_for(account, values):
            if not finding.evidence:
                continue
            rule = rules[finding.rule_id]
            # a number filter on a name: ValueError inside the template
            task_text = rule.task.model_copy(update={"body": "Revenue {{ account_name | num }}"})
            broken = rule.model_copy(update={"task": task_text})
            now = build_task(finding, pack, broken, directory, item.as_of, values)
            pending: list[PendingText] = []
            later = rendered_text(build_task(finding, pack, broken, directory, item.as_of, values,
                                             pending), pending[0], pack, broken)
            assert "evidence" not in pending[0].values
            assert later == (now.subject, now.body)
            assert "(ValueError)" in now.body and evidence_text(finding.evidence) in now.body
            checked += 1
            break
        if checked >= 5:
            break
    assert checked >= 5
