"""Packs and configs fail with every problem located at file:line:column, all at once."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from kamrules.errors import ValidationFailed
from kamrules.language.loader import builtin_dir, load_pack
from tests.conftest import Workspace

GOOD_RULE = """\
- id: MY-001
  title: Few contacts
  severity: high
  principles: [P09]
  rationale: Thin.
  when: {fact: contacts, lt: {param: min_contacts}}
  task:
    subject: "{account_name}: {contacts} contacts"
    body: "{evidence}"
"""


PARAMS = "  min_contacts: {default: 3, description: d}\n"


def write_pack(root: Path, rules: str, params: str = PARAMS) -> Path:
    root.mkdir(parents=True)
    (root / "pack.yaml").write_text(
        f"id: mine\nversion: '1.0'\ndescription: test pack\nparams:\n{params}"
        "principles: {P09: Widen the contact base}\n"  # rules cite only declared principles
    )
    (root / "rules").mkdir()
    (root / "rules" / "a.yaml").write_text(rules)
    return root


def test_builtin_pack_is_valid() -> None:
    pack = load_pack(builtin_dir() / "kam-core")
    assert pack.id == "kam-core" and len(pack.rules) >= 40


def test_pack_broken_in_two_places_names_both(tmp_path: Path, workspace: Workspace) -> None:
    broken = GOOD_RULE.replace("severity: high", "severity: hihg").replace(
        "{fact: contacts, lt:", "{fact: contacts, lower_than:")
    pack = write_pack(tmp_path / "p", broken)
    proc = workspace.cli("validate", str(pack), check=False)
    assert proc.returncode == 2
    rules_file = str(pack / "rules" / "a.yaml")
    assert f"{rules_file}:3:" in proc.stderr and "hihg" in proc.stderr
    assert f"{rules_file}:6:" in proc.stderr and "lower_than" in proc.stderr
    assert "valid keys: fact, eq, ne, lt, le, gt, ge, in, not_in, exists" in proc.stderr
    assert "2 problem(s)" in proc.stderr


WHEN = "{fact: contacts, lt: {param: min_contacts}}"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("fact: contacts, lt", "fact: contacs, lt"),
         "unknown fact 'contacs' (did you mean 'contacts'?)"),
        (("{param: min_contacts}", "{param: min_contact}"), "unknown param 'min_contact'"),
        (("{account_name}", "{account.__class__}"), "is not a plain name"),
        (("{account_name}", "{acount_name}"), "unknown placeholder {acount_name}"),
        # Jinja's syntax in a simple-syntax text: every task would read "{ contacts }"
        (("{contacts} contacts", "{{ contacts }} contacts"),
         "{{ contacts }} is Jinja's syntax, which this text is not: a task would read"
         " '{ contacts }'; write {contacts}, or set template_syntax: jinja in pack.yaml"),
        (("{contacts} contacts", "{{contacts|round}} contacts"), "write {contacts}, or set"),
        (("{contacts} contacts", "{{ contact }} contacts"),
         "and 'contact' is no name (did you mean 'contacts'?)"),
        ((WHEN, "{fact: tier, lt: 3}"), "'lt' needs a number fact"),
        ((WHEN, "{fact: contacts, eq: 'many'}"), "compared with 'many'"),
        # YAML 1.2 reads yes/no as text: the bool is written true/false
        ((WHEN, "{fact: is_key, eq: yes}"), "compared with 'yes' (str): write true, without quotes"),
        ((WHEN, "{fact: is_key, in: [true, 'Off']}"), "compared with 'Off' (str): write false"),
        ((WHEN, "{fact: contacts, lt: 3, gt: 1}"), "exactly one operator"),
        ((WHEN, "{fact: contacts, eq: null}"), "`eq: null`: a fact with nothing to measure is"
                                               " unknown, and no comparison matches it; test for it"
                                               " with `exists: false`"),
        ((WHEN, "{fact: tier, in: [major, null]}"), "`in: [..., null]`: a fact with nothing"),
        ((WHEN, "{every: []}"), "expected a condition"),
        (("id: MY-001", "id: my rule"), "String should match pattern"),
        (("principles: [P09]", "principles: [9]"), "principles"),
    ],
)
def test_each_mistake_is_reported_with_its_line(
    tmp_path: Path, change: tuple[str, str], expected: str
) -> None:
    pack = write_pack(tmp_path / "p", GOOD_RULE.replace(*change))
    with pytest.raises(ValidationFailed) as exc:
        load_pack(pack)
    text = str(exc.value)
    assert expected in text
    assert re.search(r"a\.yaml:\d+:\d+:", text)


def test_literal_braces_stay_literal_in_the_simple_syntax(tmp_path: Path) -> None:
    """`{{` and `}}` are literal braces: around a word that names nothing, unspaced, they are
    no Jinja mistake, and the task shows them."""
    from kamrules.language.template import render

    rule = GOOD_RULE.replace('"{evidence}"', '"Reply in {{ticket}} form. {evidence}"')
    pack = load_pack(write_pack(tmp_path / "p", rule))
    assert render(pack.rules[0].task.body, {"evidence": "-"}) == "Reply in {ticket} form. -"


def test_duplicate_rule_ids_are_refused_with_both_places(tmp_path: Path) -> None:
    pack = write_pack(tmp_path / "p", GOOD_RULE + GOOD_RULE)
    with pytest.raises(ValidationFailed) as exc:
        load_pack(pack)
    assert "duplicate rule id 'MY-001'; first defined at" in str(exc.value)
    assert "a.yaml:10:" in str(exc.value)


def test_yaml_syntax_error_is_located(tmp_path: Path) -> None:
    pack = write_pack(tmp_path / "p", GOOD_RULE.replace("title: Few contacts", "title: [unclosed"))
    with pytest.raises(ValidationFailed) as exc:
        load_pack(pack)
    assert "invalid YAML" in str(exc.value) and "a.yaml:" in str(exc.value)


def test_config_errors_are_located_and_stop_before_any_pull(workspace: Workspace) -> None:
    (workspace.root / "kamrules.yaml").write_text(
        "crm: {type: local, path: crm.sqlite, seed: empty}\n"
        "packs: [kam-core]\n"
        "overrides:\n  kam-core:\n    params: {min_contact: 4}\n    disable: [KAM-XXX-001]\n"
        "lifecycle: {close_resolvd: true}\n"
    )
    proc = workspace.cli("run", check=False)
    assert proc.returncode == 2
    assert "kamrules.yaml:7:13: lifecycle.close_resolvd: unknown key" in proc.stderr
    proc = workspace.cli("run", check=False)
    (workspace.root / "kamrules.yaml").write_text(
        "crm: {type: local, path: crm.sqlite, seed: empty}\n"
        "overrides:\n  kam-core:\n    params: {min_contact: 4}\n    disable: [KAM-XXX-001]\n"
    )
    proc = workspace.cli("run", check=False)
    assert proc.returncode == 2
    assert ("kamrules.yaml:4:14: overrides.kam-core.params.min_contact:"
            " pack 'kam-core' has no param") in proc.stderr
    assert ("kamrules.yaml:5:15: overrides.kam-core.disable.0:"
            " pack 'kam-core' has no rule or play 'KAM-XXX-001'") in proc.stderr
    assert workspace.crm().all_tasks() == []


def test_unknown_crm_type_names_the_valid_ones(workspace: Workspace) -> None:
    (workspace.root / "kamrules.yaml").write_text("crm: {type: dynamics}\n")
    proc = workspace.cli("run", check=False)
    assert proc.returncode == 2
    assert "unknown CRM type 'dynamics'; valid types: hubspot, local, salesforce" in proc.stderr


def test_param_override_of_the_wrong_type_is_refused(workspace: Workspace) -> None:
    (workspace.root / "kamrules.yaml").write_text(
        "crm: {type: local, path: crm.sqlite, seed: empty}\n"
        "overrides:\n  kam-core:\n    params: {min_contacts: many}\n"
    )
    proc = workspace.cli("validate", check=False)
    assert proc.returncode == 2
    assert "param 'min_contacts' takes a value like 5, got 'many'" in proc.stderr


def test_example_configs_load(tmp_path: Path) -> None:
    from kamrules.run.config import load_config, load_configured_packs

    root = Path(__file__).resolve().parent.parent / "config"
    for example in sorted(root.glob("local*.example.yaml")):
        copy = tmp_path / example.name
        shutil.copy(example, copy)
        loaded = load_config(copy)
        assert load_configured_packs(loaded)


def test_a_connector_whose_sdk_is_missing_names_the_extra_to_install(
    workspace: Workspace, tmp_path: Path
) -> None:
    import os
    import subprocess
    import sys

    from tests.conftest import ROOT

    blocked = tmp_path / "blocked"
    for sdk in ("simple_salesforce", "hubspot"):
        (blocked / sdk).mkdir(parents=True)
        (blocked / sdk / "__init__.py").write_text("raise ImportError('not installed')\n")
    for kind in ("salesforce", "hubspot"):
        (workspace.root / "kamrules.yaml").write_text(f"crm: {{type: {kind}}}\n")
        proc = subprocess.run(
            [sys.executable, "-m", "kamrules", "plan"], cwd=workspace.root, capture_output=True,
            text=True, env={**os.environ, "PYTHONPATH": f"{blocked}{os.pathsep}{ROOT}"})
        assert proc.returncode == 2, proc.stderr
        # printed as it is: the brackets are not swallowed as console markup
        assert f"the {kind} connector needs its SDK: pip install 'kamrules[{kind}]'" in proc.stderr
        assert "internal error" not in proc.stderr


def test_yml_files_are_read_as_yaml_files_are(tmp_path: Path) -> None:
    """A rule file, a case file or a translation named `.yml` was passed over without a word:
    `validate` said ok, the rule never ran."""
    from kamrules.language.packtest import cases_of
    from kamrules.language.scaffold import scaffold

    scaffold("acme-kam", tmp_path / "acme-kam")
    pack = tmp_path / "acme-kam" / "src" / "kamrules_pack_acme_kam"
    rules = (pack / "rules" / "rules.yaml").read_text()
    (pack / "rules" / "more.yml").write_text(rules.replace("ACMEKAM-001", "ACMEKAM-002"))
    cases = (pack / "tests" / "cases.yaml").read_text()
    (pack / "tests" / "more.yml").write_text(cases.split("\ncases:")[0].replace("small:", "tiny:")
                                            + "\ncases:\n  - {name: two for 002, base: tiny,"
                                              " fires: [ACMEKAM-002]}\n")
    (pack / "translations").mkdir()
    (pack / "translations" / "ru.yml").write_text(
        'rules:\n  ACMEKAM-002: {subject: "{account_name}: мало", body: "{contacts}"}\n',
        encoding="utf-8")
    loaded = load_pack(pack)
    assert [r.id for r in loaded.rules] == ["ACMEKAM-002", "ACMEKAM-001"]  # more.yml, rules.yaml
    assert "two for 002" in [c.case.name for c in cases_of(pack)]
    assert loaded.text(loaded.rules[0], "ru").subject == "{account_name}: мало"

    (pack / "translations" / "ru.yaml").write_text("rules: {}\n")
    with pytest.raises(ValidationFailed, match="ru.yml: a second translation for ru; keep one file"):
        load_pack(pack)


@pytest.mark.parametrize(("lines", "expected"), [
    # a param straight under its pack: where it goes, not only "valid keys: disable, params, tasks"
    ("overrides:\n  kam-core: {min_contacts: 4}\n",
     "kamrules.yaml:3:14: overrides.kam-core.min_contacts: unknown key 'min_contacts'; valid keys:"
     " disable, params, tasks; a param goes under params: (kam-core: {params: {min_contacts: ...}})"),
    ("overrides:\n  kam-core: {disabel: [KAM-REL-004]}\n",  # a typo: the did-you-mean alone
     "unknown key 'disabel'; valid keys: disable, params, tasks (did you mean 'disable'?)\n"),
    ("overrides:\n  kam-core: {disable: [PLAY-RENEWL]}\n",
     "pack 'kam-core' has no rule or play 'PLAY-RENEWL' (did you mean 'PLAY-RENEWAL'?)"),
    ("currency: eur\n", "currency: unknown currency 'eur'; write an ISO 4217 code such as EUR, USD"
                        " or RSD (in capitals: EUR)"),
    ("report: {currency: euro}\n", "unknown currency 'euro'; write an ISO 4217 code such as EUR,"
                                   " USD or RSD\n"),
    ("locale: xx\n", "locale: unknown locale 'xx'; write a language code such as en, de, ru, sr or"
                     " sr_Latn"),
])
def test_config_mistakes_say_how_to_write_it(tmp_path: Path, lines: str, expected: str) -> None:
    from kamrules.run.config import load_config, load_configured_packs

    config = tmp_path / "kamrules.yaml"
    config.write_text("crm: {type: local, path: crm.sqlite, seed: empty}\n" + lines)
    with pytest.raises(ValidationFailed) as caught:
        load_configured_packs(load_config(config))
    assert expected in str(caught.value) + "\n", str(caught.value)
