"""`kamrules pack new NAME`: a rule pack as a pip-installable Python package whose own tests
pass as generated (pyproject with the `kamrules.packs` entry point, pack.yaml, one rule, its
test cases, a README generated from the rules, and a pytest file that runs the cases).
"""

from __future__ import annotations

import re
from pathlib import Path

from kamrules import __version__
from kamrules.errors import KamError
from kamrules.language.docs import pack_markdown
from kamrules.language.loader import builtin_packs, load_pack

NAME = re.compile(r"^[a-z][a-z0-9-]*$")

PYPROJECT = """\
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "{dist}"
version = "0.1.0"
description = "A kamrules rule pack."
requires-python = ">=3.11"
dependencies = ["kamrules{kamrules}"]

[project.optional-dependencies]
test = ["pytest>=7"]

# kamrules finds the pack by this name: `packs: [{name}]` in kamrules.yaml.
[project.entry-points."kamrules.packs"]
{name} = "{module}"

[tool.setuptools.packages.find]
where = ["src"]

[tool.setuptools.package-data]
{module} = [
    "pack.yaml", "rules/*.yaml", "tests/*.yaml", "playbooks/*.yaml", "digest/*.j2", "translations/*.yaml",
]
"""

PACK = """\
id: {name}
version: 0.1.0
description: Rules of {name}.
requires_kamrules: "{kamrules}"   # the kamrules versions this pack is made for
requires_facts: [contacts]        # the facts its rules read (`kamrules facts` lists them)
# extends: kam-core               # build on a pack instead of copying it; then
# set: {{min_contacts: 4}}          # change its params, and
# disable: [KAM-REL-001]          # switch off its rules
principles:
  P01: Know the people who buy
groups:
  relationship: Who we know at the account
params:
  min_contacts_{short}: {{default: 3, unit: contacts, description: "Fewest contacts at a key account."}}
"""

RULES = """\
- id: {prefix}-001
  title: Too few contacts at a key account
  severity: medium
  principles: [P01]
  groups: [relationship]
  rationale: A key account known through one or two people is at risk when they leave.
  when: {{fact: contacts, lt: {{param: min_contacts_{short}}}}}
  task:
    subject: "{{account_name}}: only {{contacts}} contacts"
    body: |
      {{account_name}} has {{contacts}} contact(s); a key account needs {{min_contacts_{short}}}.

      Evidence:
      {{evidence}}
    due_in_days: 14
"""

CASES = """\
# Test cases: `kamrules test src/{module}` runs them; so does `pytest`.
as_of: 2026-11-01
fixtures:
  small:
    users: [{{id: U1, name: Alma Owner}}]
    accounts:
      - {{id: A, name: Acme Industrial, owner_id: U1, is_key: true}}
    contacts:
      - {{id: C1, account_id: A, name: Ana Buyer}}
      - {{id: C2, account_id: A, name: Ben Logistics}}
cases:
  - name: two contacts are too few
    base: small
    fires: [{prefix}-001]
    evidence: {{{prefix}-001: {{contacts: 2}}}}
  - name: three contacts are enough
    base: small
    add: {{contacts: [{{id: C3, account_id: A, name: Cleo Finance}}]}}
    silent: [{prefix}-001]
  - name: a lower minimum
    base: small
    params: {{min_contacts_{short}: 2}}
    silent: [{prefix}-001]
"""

TEST = """\
\"\"\"The pack loads, its cases pass on kamrules' engine, and README.md is current.\"\"\"

from pathlib import Path

from kamrules.language.docs import pack_markdown
from kamrules.language.loader import builtin_packs, load_pack
from kamrules.language.packtest import cases_of, run_cases

PACK = Path(__file__).resolve().parent.parent / "src" / "{module}"


def test_cases_pass() -> None:
    pack = load_pack(PACK)
    results = run_cases(pack, cases_of(PACK))
    assert results
    assert [errors for _, errors in results if errors] == []


def test_readme_is_generated_from_the_rules() -> None:
    readme = (PACK.parent.parent / "README.md").read_text(encoding="utf-8")
    # regenerate: kamrules rules src/{module} --format markdown > README.md
    assert readme == pack_markdown(load_pack(PACK))
"""


def kamrules_range() -> str:
    """This kamrules' minor series and the ones up to the next major (0.x: the next minor)."""
    parts = [int(p) for p in re.findall(r"\d+", __version__)[:2]] + [0]
    major, minor = parts[0], parts[1]
    upper = f"{major}.{minor + 1}" if major == 0 else f"{major + 1}"
    return f">={major}.{minor},<{upper}"


def scaffold(name: str, target: Path) -> list[Path]:
    """Write the pack package `name` into `target` (new, or an empty folder); the files written."""
    if not NAME.match(name):
        raise KamError(f"{name!r} is not a pack name: lower-case letters, digits and dashes")
    if name in builtin_packs():
        raise KamError(f"{name!r} is a built-in pack's name; a pack installed under it would never"
                       " be used (the built-in comes first): choose another name")
    # an empty folder (a fresh `git init` too) is taken: a project is often made first
    if target.exists() and (not target.is_dir() or any(p.name != ".git" for p in target.iterdir())):
        raise KamError(f"{target} already exists and is not empty; choose another folder with --dir")
    # The distribution and its package are named for kamrules: a pack called `requests`, `json`
    # or `kamrules` would replace or be hidden by the package of that name.
    short = name.replace("-", "_")
    dist, module = f"kamrules-pack-{name}", f"kamrules_pack_{short}"
    prefix = re.sub(r"[^A-Z0-9]", "", name.upper())[:8] or "PACK"
    values = {"name": name, "dist": dist, "module": module, "short": short, "prefix": prefix,
              "kamrules": kamrules_range()}
    pack_dir = target / "src" / module
    files = {
        target / "pyproject.toml": PYPROJECT,
        pack_dir / "__init__.py": '"""The {name} rule pack for kamrules (its files are package data)."""\n',
        pack_dir / "pack.yaml": PACK,
        pack_dir / "rules" / "rules.yaml": RULES,
        pack_dir / "tests" / "cases.yaml": CASES,
        target / "tests" / "test_pack.py": TEST,
    }
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text.format(**values), encoding="utf-8")
    readme = target / "README.md"
    readme.write_text(pack_markdown(load_pack(pack_dir)), encoding="utf-8")
    return [*files, readme]
