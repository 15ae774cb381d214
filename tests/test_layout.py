"""The layout's rules: imports flow one way, no module outgrows a file, the wheel owns only `kamrules`."""

from __future__ import annotations

import ast
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import ROOT

CORE = ROOT / "kamrules"
CONNECTORS = ROOT / "connectors"
# xdist: one worker builds the wheel (in the tree's build/) once
pytestmark = pytest.mark.xdist_group("wheel")
# What a connector may use of the core: the canonical model, the connector protocol, exit codes
# and errors, and the one input boundary for the files it reads (mappings).
CONNECTOR_MAY_IMPORT = ("kamrules.model", "kamrules.protocol", "kamrules.errors", "kamrules.inputs",
                        "kamrules.connectors")


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return found


def _under(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def test_the_core_never_imports_a_connector_or_the_cli() -> None:
    wrong = [
        f"{path.relative_to(ROOT)}:{line}: {name}"
        for path in CORE.rglob("*.py")
        if "cli" not in path.relative_to(CORE).parts and path.name != "__main__.py"
        for line, name in _imports(path)
        if _under(name, ("kamrules.connectors", "kamrules.cli", "connectors"))
    ]
    assert wrong == []


def test_connectors_import_only_the_core_model_and_protocol() -> None:
    wrong = [
        f"{path.relative_to(ROOT)}:{line}: {name}"
        for path in CONNECTORS.rglob("*.py")
        for line, name in _imports(path)
        if name.startswith(("kamrules", "connectors")) and not _under(name, CONNECTOR_MAY_IMPORT)
    ]
    assert wrong == []


def test_no_module_over_about_400_lines() -> None:
    long = {
        str(path.relative_to(ROOT)): n
        for folder in (CORE, CONNECTORS) for path in folder.rglob("*.py")
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > 420
    }
    assert long == {}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out),
         str(ROOT)],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    return next(out.glob("kamrules-*.whl"))


def test_the_wheel_owns_only_the_kamrules_name(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names if not n.split("/")[0].endswith((".dist-info", ".data"))}
    assert top == {"kamrules"}
    # and it carries every module of the core and the connectors, the built-in packs and configs
    modules = [f"kamrules/{p.relative_to(CORE).as_posix()}" for p in CORE.rglob("*.py")]
    modules += [f"kamrules/connectors/{p.relative_to(CONNECTORS).as_posix()}"
                for p in CONNECTORS.rglob("*.py")]
    assert sorted(set(modules) - set(names)) == []
    for needed in ("kamrules/_builtin/kam-core/pack.yaml", "kamrules/_config/salesforce.mapping.yaml"):
        assert needed in names
