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

from kamrules.errors import ValidationFailed
from kamrules.inputs.yamlsrc import problems_from
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
            f"unknown CRM type {kind!r}; valid types: {', '.join(sorted(CONNECTORS))}",
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
        raise ValidationFailed(problems) from None


def open_connector(loaded: LoadedConfig, state_dir: Path | None = None) -> Connector:
    config = connector_config(loaded)
    module = _module(config.type, loaded)
    return module.open_connector(config, loaded.base_dir, state_dir or loaded.state_dir)
