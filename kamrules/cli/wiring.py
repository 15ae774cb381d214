"""The connector registry: `type:` in config -> connector class, imported only when chosen.

Each connector module defines `CONFIG` (a pydantic model with `extra="forbid"` and a `type`
literal) and `open_connector(config, state_dir)`. Vendor SDKs are extras; a missing one is named.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from kamrules.errors import Problem, ValidationFailed
from kamrules.inputs.secrets import inline_secret
from kamrules.inputs.yamlsrc import closest, locate, problems_from
from kamrules.protocol.connector import Connector
from kamrules.run.config import LoadedConfig


@dataclass(frozen=True)
class ConnectorType:
    module: str
    extra: str | None
    sdk: str | None


CONNECTORS: dict[str, ConnectorType] = {
    "local": ConnectorType("kamrules.connectors.local.crm", None, None),
    "salesforce": ConnectorType(
        "kamrules.connectors.salesforce.connector", "salesforce", "simple_salesforce"),
    "hubspot": ConnectorType("kamrules.connectors.hubspot.connector", "hubspot", "hubspot"),
}


def _present(spec: ConnectorType) -> bool:
    return importlib.util.find_spec(spec.module) is not None


def _module(kind: str, loaded: LoadedConfig) -> Any:
    spec = CONNECTORS.get(kind)
    if spec is None:
        raise ValidationFailed([loaded.problem(
            ("crm", "type"),
            f"unknown CRM type {kind!r}{closest(kind, CONNECTORS)};"
            f" valid types: {', '.join(sorted(CONNECTORS))}",
        )])
    if importlib.util.find_spec(spec.module) is None:
        raise ValidationFailed([loaded.problem(
            ("crm", "type"),
            f"the {kind} connector is not part of this version of kamrules yet;"
            f" available: {', '.join(k for k, v in sorted(CONNECTORS.items()) if _present(v))}",
        )])
    if spec.sdk is not None:
        try:
            importlib.import_module(spec.sdk)
        except ImportError:
            raise ValidationFailed([loaded.problem(
                ("crm", "type"),
                f"the {kind} connector needs its SDK: pip install 'kamrules[{spec.extra}]'",
            )]) from None
    return importlib.import_module(spec.module)


def connector_config(loaded: LoadedConfig) -> Any:
    """The `crm:` section validated by its connector's model, errors located in the config."""
    section = loaded.config.crm
    kind = section.get("type") if isinstance(section, dict) else None
    if not isinstance(kind, str):
        raise ValidationFailed([loaded.problem(
            ("crm",), f"crm needs a type: one of {', '.join(sorted(CONNECTORS))}")])
    module = _module(kind, loaded)
    raw_crm = loaded.raw.get("crm") if isinstance(loaded.raw, dict) else None
    try:
        return module.CONFIG.model_validate(section)
    except ValidationError as exc:
        problems = problems_from(exc, raw_crm if raw_crm is not None else section,
                                 str(loaded.file or "(default config)"), module.CONFIG)
        raise ValidationFailed([_inline_secret(e, p) for e, p in
                                zip(exc.errors(include_url=False), problems, strict=True)]) from None


def _inline_secret(error: Any, problem: Problem) -> Problem:
    """A secret written into the YAML itself gets the fix, not pydantic's type message."""
    fix = inline_secret(error)
    return Problem(problem.location, f"crm.{problem.path}".rstrip("."),
                   problem.message if fix is None else fix)


def secret_problems(loaded: LoadedConfig) -> list[Problem]:
    """Every `{env: NAME}` / `{file: path}` in the `crm:` and `digest:` sections whose variable
    is not set or whose file does not exist (checked even when other keys are wrong; a digest's
    was found only when the run sent it). Nothing is read or shown."""
    import os

    raw = loaded.raw if isinstance(loaded.raw, dict) else {}
    problems: list[Problem] = []

    def walk(node: Any, path: tuple[str | int, ...]) -> None:
        if isinstance(node, dict) and len(node) == 1 and set(node) <= {"env", "file"}:
            (kind, value), = node.items()
            if kind == "env" and not os.environ.get(str(value)):
                message = f"environment variable {value} is not set (or empty)"
            elif kind == "file" and not (file := _resolve(str(value), loaded.base_dir)).is_file():
                message = f"secret file {file} " + (
                    "is not a regular file (a folder or a device)" if file.exists() else "does not exist")
            else:
                return
            problems.append(Problem(locate(raw, path, str(loaded.file)), ".".join(map(str, path)),
                                    message))
        elif isinstance(node, dict):
            for key, child in node.items():
                walk(child, (*path, str(key)))
        elif isinstance(node, list):
            for k, child in enumerate(node):
                walk(child, (*path, k))

    for section in ("crm", "digest"):
        walk(raw.get(section), (section,))
    return problems


def _resolve(path: str, base: Path) -> Path:
    file = Path(path).expanduser()
    return file if file.is_absolute() else base / file


def mapping_problems(loaded: LoadedConfig, config: Any) -> list[Problem]:
    """The connector's field-mapping file (its own or the shipped one) loads and validates."""

    mapping = getattr(config, "mapping", None)
    if config.type == "local":
        return []
    if mapping is not None and not _resolve(mapping, loaded.base_dir).is_file():
        return [loaded.problem(("crm", "mapping"), f"mapping file"
                               f" {_resolve(mapping, loaded.base_dir)} does not exist")]
    try:
        if config.type == "hubspot":
            from kamrules.connectors.hubspot.config import load_mapping as hubspot_mapping

            hubspot_mapping(mapping, loaded.base_dir)
        elif config.type == "salesforce":
            from kamrules.connectors.salesforce.mapping import load_mapping as salesforce_mapping

            salesforce_mapping(_resolve(mapping, loaded.base_dir) if mapping else None)
    except ValidationFailed as exc:
        return list(exc.problems)
    except Exception as exc:  # a YAML syntax error, an unreadable file, a MappingError
        return [loaded.problem(("crm", "mapping"), str(exc))]
    return []


def open_connector(loaded: LoadedConfig, state_dir: Path | None = None) -> Connector:
    config = connector_config(loaded)
    module = _module(config.type, loaded)
    connector = module.open_connector(config, loaded.base_dir, state_dir or loaded.state_dir)
    if loaded.config.health_fields is not None:  # checked like the mapping, before any pull
        from kamrules.writeback.health import preflight

        try:
            preflight(connector, loaded.config.health_fields.mapping())
        except BaseException:
            connector.close()
            raise
    return connector
