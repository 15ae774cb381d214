"""Snoozes: a recorded exception for one account and rule (or one account, or one rule).

They live in a versionable YAML file beside the config (`snoozes.yaml`), each with a reason, who
asked and an expiry date; an expired snooze stops applying by itself. A snoozed finding creates
no task and is reported as `snoozed`, never silently dropped.
"""

from __future__ import annotations

import io
import os
from collections.abc import Container
from datetime import date
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, model_validator
from ruamel.yaml import YAML

from kamrules.errors import Problem, ValidationFailed
from kamrules.inputs.environment import failure, write_whole
from kamrules.inputs.sanitize import one_line
from kamrules.inputs.yamlsrc import load_yaml, locate, problems_from
from kamrules.language.pack import UserModel
from kamrules.model import RecordWarning


class Snooze(UserModel):
    account: str | None = None
    rule: str | None = Field(default=None, description="rule id, or pack/rule")
    reason: str = Field(min_length=1)
    requested_by: str = Field(min_length=1)
    until: date
    created: date | None = None

    @model_validator(mode="after")
    def _target(self) -> Snooze:
        if not self.account and not self.rule:
            raise ValueError("a snooze needs an account, a rule, or both")
        return self

    def active(self, as_of: date) -> bool:
        return as_of <= self.until

    def matches(self, fingerprint: str) -> bool:
        pack, rule, account = (fingerprint.split("/", 2) + ["", ""])[:3]
        if self.account and self.account != account:
            return False
        return not self.rule or self.rule in (rule, f"{pack}/{rule}")

    def describe(self) -> str:
        """One line: what it holds (a rule, an account, or one rule for one account), until
        when, who asked and why (a reason written over lines is shown on one)."""
        target = (f"{self.rule} for {self.account}" if self.rule and self.account
                  else f"{self.rule} for every account" if self.rule
                  else f"every rule for {self.account}")
        return (f"snoozed ({target}) until {self.until} by {one_line(self.requested_by)}:"
                f" {one_line(self.reason)}")


class SnoozeFile(UserModel):
    snoozes: list[Snooze] = Field(default_factory=list)


def load_snoozes(path: Path) -> list[Snooze]:
    """The snoozes in the file (none if there is none yet); bad entries are located errors, and
    anything else at the path (a folder, links in a loop: Python 3.13's `resolve` leaves them)
    is refused: taken for "no snoozes", every snoozed finding's task came back."""
    if path.is_symlink() and not path.exists():
        try:
            os.stat(path)
        except OSError as exc:
            raise failure("snoozes file", path, exc) from None
    if not path.exists():
        return []
    raw = load_yaml(path) or {}
    try:
        return SnoozeFile.model_validate(raw).snoozes
    except ValidationError as exc:
        raise ValidationFailed(problems_from(exc, raw, str(path), SnoozeFile)) from None


def unknown_rules(snoozes: list[Snooze], packs: list[Any]) -> list[tuple[int, Snooze]]:
    """(index, snooze) of those naming a rule no loaded pack has (a typo by hand, a rule renamed
    or its pack dropped): they never apply, and said nothing."""
    known = {r.id for p in packs for r in p.rules} | {f"{p.id}/{r.id}" for p in packs for r in p.rules}
    return [(i, s) for i, s in enumerate(snoozes) if s.rule and s.rule not in known]


def idle_snoozes(snoozes: list[Snooze], packs: list[Any], evaluated: Container[str],
                 as_of: date) -> list[RecordWarning]:
    """A run's warnings for active snoozes that can never apply: written by hand with an account's
    name for its id, or a rule no loaded pack has."""
    warnings = [RecordWarning(
        kind="snoozes", record_id=s.account,
        message=f"no account has the id {s.account!r}, so this snooze never applies;"
        " re-add it with `kamrules snooze add --account` (it finds accounts by name)")
        for s in snoozes if s.account and s.active(as_of) and s.account not in evaluated]
    return warnings + [RecordWarning(kind="snoozes", record_id=s.rule or "", message=_no_rule(s))
                       for _, s in unknown_rules(snoozes, packs) if s.active(as_of)]


def unknown_rule_problems(path: Path, snoozes: list[Snooze], packs: list[Any]) -> list[Problem]:
    """`unknown_rules`, each located at its `rule:` in the snoozes file (for `validate`)."""
    found = unknown_rules(snoozes, packs)
    raw = load_yaml(path) if found else None
    return [Problem(locate(raw, ("snoozes", i, "rule"), str(path)), f"snoozes[{i}].rule", _no_rule(s))
            for i, s in found]


def _no_rule(snooze: Snooze) -> str:
    return (f"no loaded pack has the rule {snooze.rule!r}, so this snooze never applies;"
            " `kamrules rules` lists them")


def save_snoozes(path: Path, snoozes: list[Snooze]) -> None:
    yaml = YAML()
    yaml.default_flow_style = False
    data = {"snoozes": [s.model_dump(mode="json", exclude_none=True) for s in snoozes]}
    text = io.StringIO()
    text.write("# kamrules snoozes: managed with `kamrules snooze add|list|remove`.\n")
    yaml.dump(data, text)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise failure("snoozes folder", path.parent, exc) from None
    write_whole(path, text.getvalue(), "snoozes file")


def snoozed(fingerprints: list[str], snoozes: list[Snooze], as_of: date) -> dict[str, str]:
    """fingerprint -> why it is snoozed, for the snoozes active on as_of."""
    return {fp: hit.describe() for fp, hit in holding(fingerprints, snoozes, as_of).items()}


def holding(fingerprints: list[str], snoozes: list[Snooze], as_of: date) -> dict[str, Snooze]:
    """fingerprint -> the first snooze active on as_of (in the file's order) that `matches` it.
    Found through an index by account and rule: every snooze tried on every finding took 58 s
    for 2,000 snoozes over 50,000 findings."""
    active = [s for s in snoozes if s.active(as_of)]
    first: dict[tuple[str | None, str | None], int] = {}
    for n, s in enumerate(active):
        first.setdefault((s.account or None, s.rule or None), n)
    out = {}
    for fp in fingerprints:
        pack, rule, account = (fp.split("/", 2) + ["", ""])[:3]
        found = [n for key in ((account, None), (None, rule), (None, f"{pack}/{rule}"),
                               (account, rule), (account, f"{pack}/{rule}"))
                 if (n := first.get(key)) is not None]
        if found:
            out[fp] = active[min(found)]
    return out
