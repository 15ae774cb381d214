"""Helpers for the HubSpot tests: a fake portal loaded with the demo portfolio and a CLI workspace."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests import kamrules_process
from tests.conftest import ANCHOR, ROOT
from tests.support.hubspot import FakeHubSpot

TOKEN = "pat-na1-7f3c9e2a-kamrules-test-secret"
TOKEN_ENV = "KR_HUBSPOT_TOKEN"


@dataclass
class HsWorkspace:
    """A folder with a `type: hubspot` kamrules.yaml pointing at a fake portal."""

    root: Path
    fake: FakeHubSpot
    url: str

    def write_config(self, extra_crm: str = "", extra: str = "") -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "kamrules.yaml").write_text(
            "crm:\n  type: hubspot\n"
            f"  access_token: {{env: {TOKEN_ENV}}}\n  base_url: {self.url}\n"
            f"  requests_per_10s: {self.fake.budget}\n  rate_window_seconds: {self.fake.window}\n"
            "  retry: {attempts: 3, base_seconds: 0.01, max_seconds: 0.05}\n"
            + extra_crm
            + "packs: [kam-core]\nstate_dir: state\n"
            + "overrides:\n  kam-core: {tasks: per_rule}\n"  # bundles: see test_bundles.py
            + extra
        )

    def cli(
        self, *args: str, token: str = TOKEN, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        full = kamrules_process.environment(**{TOKEN_ENV: token, **(env or {})})
        return kamrules_process.run(args, cwd=self.root, env=full)

    def run_json(self, command: str = "run", **kw: Any) -> tuple[int, dict[str, Any]]:
        proc = self.cli(command, "--as-of", ANCHOR.isoformat(), "--json", **kw)
        try:
            report = json.loads(proc.stdout)
        except ValueError:
            raise AssertionError(f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}") from None
        return proc.returncode, report


def hubspot_connector(url: str, mapping_text: str, cache: Any = None) -> Any:
    """A HubSpotConnector on the fake portal at `url` with this mapping (quick retries)."""
    from ruamel.yaml import YAML

    from kamrules.connectors.hubspot.config import HubSpotConfig, Mapping
    from kamrules.connectors.hubspot.connector import HubSpotConnector
    from kamrules.connectors.hubspot.http import HubSpotApi
    from kamrules.inputs.secrets import Secret

    config = HubSpotConfig.model_validate(
        {
            "type": "hubspot",
            "access_token": {"env": "UNUSED"},
            "base_url": url,
            "requests_per_10s": 40,
            "rate_window_seconds": 0.25,
            "retry": {"attempts": 3, "base_seconds": 0.01, "max_seconds": 0.05},
        }
    )
    mapping = Mapping.model_validate(YAML(typ="safe").load(mapping_text))
    api = HubSpotApi(Secret(TOKEN), url, 40, 4, config.retry, window=0.25)
    return HubSpotConnector(config, mapping, api, cache, "custom.mapping.yaml")


def start_fake(
    records: dict[str, list[dict[str, Any]]], custom: tuple[str, ...] = (), **kw: Any
) -> tuple[FakeHubSpot, str, dict]:
    fake = FakeHubSpot(token=TOKEN, **kw)
    ids = fake.load_portfolio(records, custom)
    return fake, fake.start(), ids


PLAN_PROPERTIES = {  # canonical plan field -> property of the fake's account_plans object
    f: f
    for f in (
        "horizon_years",
        "objectives",
        "objectives_reviewed",
        "customer_goals",
        "pain_points",
        "selection_criteria",
        "decision_process",
        "risk_reviewed",
        "risk_measures",
        "relationship_reviewed",
        "value_for_customer",
        "value_for_us",
        "value_reviewed",
    )
}


def custom_mapping(objects: dict[str, str], **sections: Any) -> str:
    """The shipped mapping with plans, surveys or contracts read from the named custom objects.

    `objects` maps a section to the name the mapping gives its object (objectTypeId, p_name or
    fully qualified name); `sections` overrides or adds whole sections.
    """
    from io import StringIO

    from ruamel.yaml import YAML

    yaml = YAML(typ="rt")
    data = yaml.load((ROOT / "config" / "hubspot.mapping.yaml").read_text())
    if "plans" in objects:
        data["plans"] = {"object": objects["plans"], **PLAN_PROPERTIES}
    if "surveys" in objects:
        data["extras"]["surveys"] = None
        data["surveys"] = {"object": objects["surveys"]}  # the default property names
    if "contracts" in objects:
        for key in ("contract_start", "contract_end", "renewal_status"):
            data["extras"][key] = None
        data["contracts"] = {"object": objects["contracts"]}
    data.update(sections)
    out = StringIO()
    yaml.dump(data, out)
    return out.getvalue()
