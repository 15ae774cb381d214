"""`kamrules.yaml`: which CRM, which packs with which overrides, and how tasks live.

The `crm:` section is validated by the chosen connector's own model (the CLI wires that in);
everything here is validated with located errors like a pack.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator

from kamrules.digest.config import DigestSettings
from kamrules.errors import Location, Problem, ValidationFailed
from kamrules.inputs.environment import expand
from kamrules.inputs.secrets import inline_secret
from kamrules.inputs.yamlsrc import load_yaml, locate, plain, problems_from
from kamrules.language.loader import LoadedPack, load_packs, override_problems, resolve_pack
from kamrules.language.pack import TaskMode, UserModel
from kamrules.language.registry import unknown_pack
from kamrules.model import Severity
from kamrules.run.quality import DataQualitySettings
from kamrules.writeback.reconcile import Limits, Policy

DEFAULT_CONFIG = Path("kamrules.yaml")
CONFIG_NAMES = (DEFAULT_CONFIG.name, "kamrules.yml")  # what the search for a config looks for
CONFIG_ENV = "KAMRULES_CONFIG"


class PackOverride(UserModel):
    params: dict[str, Any] = Field(default_factory=dict)
    disable: list[str] = Field(default_factory=list)
    # one task per finding, or one checklist task per account and bundle (the pack's default)
    tasks: TaskMode | None = None

    @staticmethod
    def unknown_key_hint(loc: tuple[Any, ...]) -> str:
        """A param written straight under its pack (`kam-core: {min_contacts: 4}`)."""
        pack, key = (loc[-2], loc[-1]) if len(loc) > 1 else ("PACK", loc[-1])
        return f"; a param goes under params: ({pack}: {{params: {{{key}: ...}}}})"


class LifecycleSettings(UserModel):
    close_resolved: bool = True
    renotify_after_days: int = Field(default=30, ge=0, le=3650)
    update_tolerance: float = Field(default=0.2, ge=0, le=1000, allow_inf_nan=False)


class AlertSettings(UserModel):
    max_new_tasks_per_owner: int | None = Field(default=None, ge=0)
    min_severity: Severity = "info"


class HealthWeights(UserModel):
    """Points a finding of each severity takes off an account's health score of 100."""

    critical: int = Field(default=40, ge=0)
    high: int = Field(default=20, ge=0)
    medium: int = Field(default=8, ge=0)
    low: int = Field(default=3, ge=0)
    info: int = Field(default=0, ge=0)


def known_currency(value: str | None) -> str | None:
    """An ISO 4217 code Babel knows: a typo (`EUT`) showed every amount as "EUT560,400"."""
    from babel.numbers import is_currency

    if value is not None and not (len(value) == 3 and value.isascii() and value.isupper()
                                  and is_currency(value)):
        capitals = f" (in capitals: {value.upper()})" if is_currency(value.upper()) else ""
        raise ValueError(f"unknown currency {value!r}; write an ISO 4217 code such as EUR, USD"
                         f" or RSD{capitals}")
    return value


class ReportSettings(UserModel):
    """`report:`: how the portfolio report scores account health and shows money."""

    health_weights: HealthWeights = Field(default_factory=HealthWeights)
    # the report's own money and number settings; unset, the top-level `currency` and `locale`
    currency: str | None = Field(default=None,
                                 description="ISO 4217 code of the CRM's amounts, e.g. EUR")
    locale: str | None = Field(
        default=None, pattern=r"^(en|de|fr|ru|sr)$",
        description="how numbers are written: en 1,234.5 · de/sr 1.234,5 · fr/ru 1 234,5")

    @field_validator("currency")
    @classmethod
    def _known_currency(cls, value: str | None) -> str | None:
        return known_currency(value)


class HealthFieldNames(UserModel):
    """`health_fields:` the account fields that get each value (one left out is not written)."""

    health: str | None = Field(default=None, min_length=1, description="0-100, as in the report")
    worst_severity: str | None = Field(default=None, min_length=1)
    open_findings: str | None = Field(default=None, min_length=1)
    last_evaluated: str | None = Field(default=None, min_length=1, description="date, ISO")

    def mapping(self) -> dict[str, str]:
        return {k: v for k, v in self.model_dump().items() if v}


class Config(UserModel):
    crm: dict[str, Any] = Field(default_factory=lambda: {"type": "local"})
    packs: list[str] = Field(default_factory=lambda: ["kam-core"], min_length=1)
    overrides: dict[str, PackOverride] = Field(default_factory=dict)
    state_dir: str = ".kamrules"
    snoozes_file: str = "snoozes.yaml"
    lock_wait_seconds: float = Field(default=30.0, ge=0, le=86400, allow_inf_nan=False)
    sales_ops_owner: str | None = None
    lifecycle: LifecycleSettings = Field(default_factory=LifecycleSettings)
    alerts: AlertSettings = Field(default_factory=AlertSettings)
    report: ReportSettings = Field(default_factory=ReportSettings)
    data_quality: DataQualitySettings = Field(default_factory=DataQualitySettings)
    # durable_rules where it imports (Python 3.11, 3.12), else compiled Python predicates
    engine: Literal["auto", "durable", "python"] = "auto"
    # processes that evaluate chunks of accounts (`--workers` on run and plan); none: the cores
    workers: int | None = Field(default=None, ge=1, le=64)
    health_fields: HealthFieldNames | None = None  # account health written to the CRM
    digest: DigestSettings | None = None
    # the language of task text (a pack's translations) and of numbers, money and dates
    locale: str = "en"
    currency: str = "EUR"  # an ISO 4217 code (`known_currency`)

    @field_validator("currency")
    @classmethod
    def _known_currency(cls, value: str | None) -> str | None:
        return known_currency(value)

    @field_validator("locale")
    @classmethod
    def _known_locale(cls, value: str) -> str:
        from kamrules.language.template import parse_locale

        return str(parse_locale(value))  # `RU`, `sr-latn`: as translations are named (ru, sr_Latn)


@dataclass
class LoadedConfig:
    config: Config
    file: Path | None
    raw: Any
    base_dir: Path
    source: str = "no config"  # how the file was found: --config, KAMRULES_CONFIG or the search

    @property
    def state_dir(self) -> Path:
        return (self.base_dir / self.config.state_dir).resolve()

    @property
    def snoozes_path(self) -> Path:
        return (self.base_dir / self.config.snoozes_file).resolve()

    def problem(self, loc: tuple[str | int, ...], message: str) -> Problem:
        if self.file is None:
            return Problem(Location("(default config)"), ".".join(map(str, loc)), message)
        return Problem(locate(self.raw, loc, str(self.file)), ".".join(map(str, loc)), message)

    def limits(self) -> Limits:
        return Limits(self.config.alerts.max_new_tasks_per_owner, self.config.alerts.min_severity)


def find_config(path: Path | None, cwd: Path | None = None) -> tuple[Path | None, str]:
    """The config file and how it was found: `--config`, then $KAMRULES_CONFIG, then
    kamrules.yaml in this folder or the nearest parent that has one (as git and ruff do)."""
    if path is not None:
        return path, "--config"
    env = os.environ.get(CONFIG_ENV)
    if env:
        return expand(env, CONFIG_ENV), CONFIG_ENV
    here = (cwd or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        # kamrules.yml too: named so it was passed over, and a nightly job ran on the demo CRM
        found = [name for name in CONFIG_NAMES if (folder / name).exists()]  # a FIFO or folder
        if len(found) > 1:  # there is refused by the boundary, not skipped
            raise ValidationFailed([Problem(Location(str(folder / found[1])), "",
                                            f"{found[0]} and {found[1]} are both here: keep one")])
        if found:
            name = Path(found[0])
            return (name if folder == here else folder / name), (
                "found here" if folder == here else f"found in parent folder {folder}")
    return None, "no config"


def load_config(path: Path | None, cwd: Path | None = None) -> LoadedConfig:
    """The config found by `find_config`, else the built-in defaults (the embedded demo CRM)."""
    path, source = find_config(path, cwd)
    if path is None:
        return LoadedConfig(Config(), None, {}, (cwd or Path.cwd()), source)
    if not path.exists():
        where = f" (from {source})" if source != "--config" else ""
        raise ValidationFailed([Problem(Location(str(path)), "", f"config file not found{where}")])
    raw = load_yaml(path)
    if raw is None:
        raw = {}
    try:
        config = Config.model_validate(raw)
    except ValidationError as exc:
        problems = problems_from(exc, raw, str(path), Config)
        raise ValidationFailed([  # a secret written inline (a webhook URL): the fix, not a type
            p if (fix := inline_secret(e)) is None else Problem(p.location, p.path, fix)
            for e, p in zip(exc.errors(include_url=False), problems, strict=True)]) from None
    crm = config.crm
    if isinstance(crm, dict) and crm.get("type", "local") == "local" and "seed" not in crm:
        # The demo portfolio is for a first look without any config; a config of one's own
        # never fills a CRM with invented accounts unless it says `seed: demo`.
        config.crm = {**crm, "type": "local", "seed": "empty"}
    return LoadedConfig(config, path, raw, path.resolve().parent, source)


def describe_setup(loaded: LoadedConfig) -> str:
    """One line naming the config file and the CRM it points at (never a secret)."""
    crm = loaded.config.crm if isinstance(loaded.config.crm, dict) else {}
    kind = str(crm.get("type", "?"))
    if kind == "local":
        where = (loaded.base_dir / str(crm.get("path", ".kamrules/crm.sqlite"))).resolve()
        target = f"local CRM at {where}"
    else:
        auth = crm.get("auth") if isinstance(crm.get("auth"), dict) else {}
        place = next((str(d[k]) for d, k in ((auth, "instance_url"), (crm, "domain"),
                                             (crm, "base_url")) if isinstance(d.get(k), str)), "")
        target = f"{kind}{' at ' + place if place else ''}"
    if loaded.file is None:
        return f"no config: embedded demo CRM at {target.removeprefix('local CRM at ')}"
    return f"config {loaded.file.resolve()} ({loaded.source}); CRM: {target}"


def load_configured_packs(loaded: LoadedConfig) -> list[LoadedPack]:
    """The config's packs, validated, with its param overrides and disabled rules applied."""
    from kamrules.language.registry import loaded_twice, split_ref, version_problem
    from kamrules.playbooks.loader import play_ids

    problems: list[Problem] = []
    paths = []
    pins = []  # (index in packs:, version specifier) of each resolved pack
    for i, ref in enumerate(loaded.config.packs):
        try:
            paths.append(resolve_pack(ref, loaded.base_dir))
            pins.append((i, split_ref(ref)[1]))
        except ValidationFailed as exc:
            problems += [loaded.problem(("packs", i), p.message) for p in exc.problems]
    packs: list[LoadedPack] = []
    try:
        packs = load_packs(paths)
    except ValidationFailed as exc:
        problems += exc.problems
    for pack, (i, spec) in zip(packs, pins, strict=False):
        why = (version_problem(pack, spec) if spec is not None else None) or loaded_twice(pack, packs)
        if why:
            problems.append(loaded.problem(("packs", i), why))
    by_id = {p.id: p for p in packs}
    for pack_id, override in loaded.config.overrides.items():
        if pack_id not in by_id:
            if packs or not problems:
                problems.append(loaded.problem(("overrides", pack_id), unknown_pack(pack_id, packs)))
            continue
        plays = play_ids(by_id[pack_id]) if override.disable else set()
        for loc, message in override_problems(by_id[pack_id], override.params, override.disable, plays):
            problems.append(loaded.problem(("overrides", pack_id, *loc), message))
        if override.tasks is not None:
            by_id[pack_id].tasks = override.tasks
    if problems:
        raise ValidationFailed(problems)
    for pack in packs:
        pack.locale, pack.currency = loaded.config.locale, loaded.config.currency
    digest = loaded.config.digest
    if digest is not None:  # the packs' templates, or the config's; compiled before any pull
        from kamrules.digest.templates import resolve

        digest.use(resolve(digest.templates.model_dump(), packs, loaded.base_dir,
                           loaded.config.locale, loaded.config.currency))
    return packs


def policy_resolver(loaded: LoadedConfig, packs: list[LoadedPack]):  # noqa: ANN201
    """fingerprint -> Policy: config defaults, then the pack's, then the rule's lifecycle."""
    base = loaded.config.lifecycle
    rules = {(p.id, r.id): (p, r) for p in packs for r in p.rules}
    by_id = {p.id: p for p in packs}
    cache: dict[tuple[str, str], Policy] = {}

    def policy_for(fingerprint: str) -> Policy:
        pack_id, rule_id, _ = (fingerprint.split("/", 2) + ["", ""])[:3]
        key = (pack_id, rule_id)
        if key not in cache:
            settings = {"close_resolved": base.close_resolved,
                        "renotify_after_days": base.renotify_after_days}
            layers = []
            if key in rules:
                pack, rule = rules[key]
                layers = [pack.lifecycle, rule.lifecycle]
            elif rule_id.startswith("bundle:") and pack_id in by_id:
                layers = [by_id[pack_id].lifecycle]  # a checklist task: the pack's lifecycle
            for layer in layers:
                settings.update({k: v for k, v in layer.model_dump().items() if v is not None})
            cache[key] = Policy(update_tolerance=base.update_tolerance, **settings)
        return cache[key]

    return policy_for


def crm_section(loaded: LoadedConfig) -> dict[str, Any]:
    return plain(loaded.config.crm)
