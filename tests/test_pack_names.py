"""Which pack a name in `packs:` means: a pip pack under a built-in's name is listed as unused,
a name two distributions provide is used by neither (named, exit 2), and a folder without
pack.yaml beside the config (the project `pack new` makes) does not hide the installed pack.

Distributions are real to importlib.metadata: a `.dist-info` folder (METADATA and
entry_points.txt, as pip writes them) and a package on sys.path.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from kamrules.errors import ValidationFailed
from kamrules.language.loader import builtin_dir, resolve_pack
from kamrules.language.registry import every_pack, installed_packs
from kamrules.language.scaffold import scaffold


def _installed(site: Path, dist: str, entry: str, module: str, tmp_path: Path) -> None:
    """A distribution `dist` whose entry point `entry` names the package `module` (a pack)."""
    if not (site / module).exists():
        scaffold("acme-kam", tmp_path / f"scaffold-{module}")
        (tmp_path / f"scaffold-{module}" / "src" / "kamrules_pack_acme_kam").rename(site / module)
    info = site / f"{dist.replace('-', '_')}-1.0.dist-info"  # as pip names it
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[kamrules.packs]\n{entry} = {module}\n")


def test_a_name_two_distributions_provide_is_used_by_neither(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    site = tmp_path / "site"
    site.mkdir()
    _installed(site, "acme-one", "acme-twice", "kr_names_twice", tmp_path)
    _installed(site, "acme-two", "acme-twice", "kr_names_twice", tmp_path)
    monkeypatch.syspath_prepend(str(site))

    listed = [p for p in every_pack() if p.name == "acme-twice"]
    assert sorted(p.source for p in listed) == ["acme-one 1.0 (pip)", "acme-two 1.0 (pip)"]
    for pack in listed:
        assert pack.error is not None and "2 distributions provide the pack 'acme-twice'" in pack.error
        assert "acme-one 1.0 (pip)" in pack.error and "acme-two 1.0 (pip)" in pack.error
    with pytest.raises(ValidationFailed, match="cannot be used: 2 distributions provide"):
        resolve_pack("acme-twice", tmp_path)


def test_a_pip_pack_under_a_built_in_name_is_listed_unused(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    site = tmp_path / "site"
    site.mkdir()
    _installed(site, "fake-core", "kam-core", "kr_names_core", tmp_path)
    monkeypatch.syspath_prepend(str(site))

    shadowed = next(p for p in every_pack() if p.source == "fake-core 1.0 (pip)")
    assert shadowed.error == "not used: the built-in pack kam-core has this name"
    assert [p.source for p in installed_packs() if p.name == "kam-core"] == ["built-in"]
    assert resolve_pack("kam-core", tmp_path) == builtin_dir() / "kam-core"


def test_a_folder_without_pack_yaml_leaves_the_name_to_the_pack(tmp_path: Path) -> None:
    (tmp_path / "kam-core").mkdir()  # e.g. a project folder of that name
    assert resolve_pack("kam-core", tmp_path) == builtin_dir() / "kam-core"
    (tmp_path / "kam-core" / "pack.yaml").write_text("id: kam-core\n")  # a copy to change: it is the pack
    assert resolve_pack("kam-core", tmp_path) == tmp_path / "kam-core"
    (tmp_path / "mine").mkdir()  # no pack of that name: the folder, whose load says what it lacks
    assert resolve_pack("mine", tmp_path) == tmp_path / "mine"


def test_a_ref_reads_as_packagings_requirement_whether_or_not_it_is_imported() -> None:
    """`split_ref` skips packaging for a name alone (it is imported on demand, ~20 ms of every
    start): each ref, plain or pinned, valid or not, reads as packaging's Requirement reads it."""
    from packaging.requirements import InvalidRequirement, Requirement

    from kamrules.language.registry import split_ref

    names = ["kam-core", "KAM_Core", "kam.core", "a..b", "1", "-", "_x", "x-", "x__y", "ü", "kam core"]
    refs = names + [f"{n}{tail}" for n in names[:4]
                    for tail in (">=1", "==1.0", ">=1,<2", "[extra]", " ; python_version>'3'", ">=")]
    for ref in refs:
        try:
            req = Requirement(ref)
            expected = (req.name, str(req.specifier) or None)
        except InvalidRequirement:
            expected = (ref, None)
        name, spec = split_ref(ref)
        assert (name, None if spec is None else str(spec)) == expected, ref
