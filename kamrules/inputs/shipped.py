"""Files shipped with kamrules: the built-in packs and the example configs and mappings.

Installed, they are package data (`kamrules/_builtin`, `kamrules/_config`); in a source checkout
(editable install, tests) they are the repository's `rulesets/` and `config/` folders.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent


def _shipped(installed: str, source: str) -> Path:
    here = PACKAGE / installed
    return here if here.is_dir() else PACKAGE.parent / source


def builtin_dir() -> Path:
    """Where the built-in rule packs live."""
    return _shipped("_builtin", "rulesets")


def config_dir() -> Path:
    """Where the shipped example configs and default mappings live."""
    return _shipped("_config", "config")


def shipped_file(name: str) -> tuple[str, str]:
    """The text of a shipped config file and the name to show in messages."""
    from kamrules.inputs.boundary import read_text

    return read_text(config_dir() / name), f"(shipped) {name}"
