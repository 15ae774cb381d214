"""Task text and digest templates run in bounded time and memory (kamrules/language/bounded.py):
each template here ran for minutes or hours, filled the memory or crashed; now it stops at a
bound within a second, and templates that stay within the bounds render as before."""

from __future__ import annotations

import time
from datetime import date

import pytest
from jinja2 import TemplateError

from kamrules.language.bounded import TooBig
from kamrules.language.template import jinja_names, render_jinja

AS_OF = date(2026, 11, 1)
# a list holding one long text a thousand times (by reference: cheap until it is printed)
MANY = ('{% set ns = namespace(l=[]) %}{% set s = "x" * 9999999 %}'
        '{% for i in range(1000) %}{{ ns.l.append(s) or "" }}{% endfor %}')
HOSTILE = [
    "{{ 'x' * 10**9 }}",
    "{{ 10**(10**10) }}",
    "{% set ns = namespace(n=3) %}{% for i in range(100) %}{% set ns.n = ns.n * ns.n %}{% endfor %}",
    '{{ "x"|center(10**9) }}',
    '{{ "x".ljust(10**9) }}',
    "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}",
    "{% set r = range(100000) %}{% for a in r %}{% for b in r %}{% endfor %}{% endfor %}",
    '{% set ns = namespace(s="x") %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}',
    '{% set ns = namespace(s="x") %}{% for i in range(64) %}{% set ns.s = ns.s + ns.s %}{% endfor %}',
    '{% set s = "x" * 999999 %}{{ s|replace("", s) }}',
    '{% set s = "x" * 999999 %}{{ s.replace("", s) }}',
    '{% set s = "x" * 99999 %}{{ range(99999)|map("string")|join(s) }}',
    '{% set s = "x" * 99999 %}{{ s.join(range(99999)|map("string")) }}',
    '{% set s = "\\n" * 999999 %}{{ s|indent(999999) }}',
    '{{ "{:>999999999}".format(1) }}',
    '{{ "%0999999999d"|format(1) }}',
    '{{ "%0999999999d" % 1 }}',
    "{% for i in range(99999) %}{{ 'x' * 99999 }}{% endfor %}",
    "{% macro m() %}{% for i in range(1000) %}{{ 'x' * 9999999 }}{% endfor %}{% endmacro %}{{ m() }}",
    '{% set ns = namespace(l=[]) %}{% for i in range(1000) %}{{ ns.l.append("x" * 9999999) }}{% endfor %}',
    "{% for i in range(1000) %}{% set b %}{{ 'x'|center(9999999) }}{% endset %}{% endfor %}",
    *(MANY + shown for shown in ("{{ ns.l }}", "{{ ns.l|string }}", "{{ ns.l|upper }}",
                                 "{{ '' ~ ns.l }}", "{{ '%s' % ns.l }}", "{{ ns.l|tojson }}",
                                 "{{ ns.l|join }}", "{{ '{}'.format(ns.l) }}")),
]


@pytest.mark.parametrize("source", HOSTILE)
def test_a_template_past_a_bound_stops_within_a_second(source: str) -> None:
    start = time.process_time()
    jinja_names(source)  # validation compiles it: Jinja folded `10**(10**10)` there
    with pytest.raises(TooBig):
        render_jinja(source, {}, as_of=AS_OF)
    assert time.process_time() - start < 2.0


def test_a_macro_calling_itself_stops() -> None:
    with pytest.raises(RecursionError):
        render_jinja("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", {}, as_of=AS_OF)


def test_templates_within_the_bounds_render_as_before() -> None:
    source = ("{% macro line(name, amount) %}{{ name }}: {{ amount|money }}{% endmacro %}"
              "{% for n in names %}{{ line(n, 5000000) }}; {% endfor %}{{ ', '.join(names) }}"
              " {{ 'ab' * 3 }} {{ 2**10 }} {{ '%s-%s' % (1, 2) }} {{ 'a b'|replace(' ', '_') }}"
              " {{ '{}!'.format('hi') }} {{ 'x'|center(5) }}|{{ names|join('/') }}")
    out = render_jinja(source, {"names": ["Acme", "Bolt"]}, as_of=AS_OF)
    assert out == ("Acme: €5,000,000; Bolt: €5,000,000; Acme, Bolt ababab 1024 1-2 a_b hi!"
                   "   x  |Acme/Bolt")
    assert len(render_jinja("{% for i in range(100000) %}x{% endfor %}", {}, as_of=AS_OF)) == 100000


@pytest.mark.parametrize("source", ["{{ " + "(" * 400 + "1" + ")" * 400 + " }}",
                                    "{% if 1 %}" * 150 + "x" + "{% endif %}" * 150,
                                    "{{ 1" + " + 1" * 3000 + " }}"])
def test_a_template_nested_too_deeply_is_a_template_error(source: str) -> None:
    """Jinja's parser and Python's compiler recurse per level: RecursionError and "too many
    levels of indentation" were exit 5 at validation."""
    for check in (jinja_names, lambda s: render_jinja(s, {}, as_of=AS_OF)):
        with pytest.raises(TemplateError, match="nests too deeply"):
            check(source)


def test_a_task_text_past_a_bound_falls_back_and_is_not_tried_again() -> None:
    """Such a text would go past the bound on every account (up to a second each): after the
    first, the process falls back to the plain text at once."""
    from kamrules.evaluation.engine import Engine
    from kamrules.language.loader import builtin_dir, load_pack
    from kamrules.language.packtest import case_facts, cases_of
    from kamrules.model import Snapshot
    from kamrules.writeback.tasks import Directory, build_task

    pack_dir = builtin_dir() / "kam-core"
    pack = load_pack(pack_dir)
    item = next(c for c in cases_of(pack_dir) if c.case.fires)
    facts = case_facts(item)
    assert not isinstance(facts, str), facts
    account, values = facts
    finding = next(iter(Engine([pack]).findings_for(account, values)))
    rule = next(r for r in pack.rules if r.id == finding.rule_id)
    loops = "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}"
    broken = rule.model_copy(update={"task": rule.task.model_copy(update={"body": loops})})
    directory = Directory.from_snapshot(
        Snapshot.model_validate({"as_of": item.as_of, **item.records}), "U9")
    bodies, seconds = [], []
    for _ in range(2):
        start = time.process_time()
        bodies.append(build_task(finding, pack, broken, directory, item.as_of, values).body)
        seconds.append(time.process_time() - start)
    assert all("(TooBig)" in b for b in bodies) and bodies[0] == bodies[1]
    assert seconds[1] < 0.05 < seconds[0], seconds
