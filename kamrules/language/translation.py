"""A pack's translations: `translations/LOCALE.yaml`, its task text in another language (rules'
and, in the simple `{name}` syntax plays are written in, play steps'), principle names and
bundle titles; how a locale finds them (`sr_Latn.yaml`, then `sr.yaml`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, ValidationError, ValidationInfo, field_validator

from kamrules.errors import Location, Problem, ValidationFailed
from kamrules.inputs.yamlsrc import load_yaml, locate, problems_from, yaml_files
from kamrules.language.pack import UserModel
from kamrules.language.textnames import PLAY_NAMES, check_template, check_text


class RuleText(UserModel):
    """A rule's task text in another language."""

    title: str | None = None
    subject: str = Field(min_length=1, max_length=255)
    body: str = Field(min_length=1)

    @field_validator("subject", "body")
    @classmethod
    def _known_names(cls, text: str, info: ValidationInfo) -> str:
        return check_template(text, info)


class StepText(RuleText):
    """A play step's title and task text in another language (in the pack's syntax, as its
    plays, with the names a step may read)."""

    @field_validator("subject", "body")
    @classmethod
    def _known_names(cls, text: str, info: ValidationInfo) -> str:
        context = info.context or {}
        if context.get("facts") is None:
            return text
        params = {**(context.get("params") or {}), **dict.fromkeys(PLAY_NAMES)}
        return check_text(text, {**context, "params": params})


class PlayText(UserModel):
    """A play's title, rationale (an escalation task quotes it) and steps' text in another
    language."""

    title: str | None = None
    rationale: str | None = None
    steps: dict[str, StepText] = Field(default_factory=dict)

    def over(self, base: PlayText) -> PlayText:
        return PlayText.model_construct(title=self.title or base.title,
                                        rationale=self.rationale or base.rationale,
                                        steps={**base.steps, **self.steps})


class Translation(UserModel):
    """`translations/LOCALE.yaml`: task text, bundle titles and principle names in one language."""

    principles: dict[Annotated[str, Field(pattern=r"^P\d{2}$")], str] = Field(default_factory=dict)
    bundles: dict[str, str] = Field(default_factory=dict)
    rules: dict[str, RuleText] = Field(default_factory=dict)
    plays: dict[str, PlayText] = Field(default_factory=dict)

    def over(self, base: Translation) -> Translation:
        """This translation over its base pack's in the same locale: an extending pack's own
        `ru.yaml` replaced the base's whole, its rules' Russian text and principle names too."""
        plays = {**base.plays}
        for play_id, text in self.plays.items():
            plays[play_id] = text.over(base.plays[play_id]) if play_id in base.plays else text
        return Translation.model_construct(
            principles={**base.principles, **self.principles}, bundles={**base.bundles, **self.bundles},
            rules={**base.rules, **self.rules}, plays=plays)


def merged(base: dict[str, Translation], own: dict[str, Translation]) -> dict[str, Translation]:
    """An extending pack's translations: per locale, its own over its base's."""
    return {name: own[name].over(base[name]) if name in own and name in base else own.get(name) or base[name]
            for name in {**base, **own}}


def in_order(translations: dict[str, Translation], locale: str) -> list[Translation]:
    """The translations a locale reads, first found first: `sr_Latn`, then `sr`."""
    name = locale.replace("-", "_")
    names = dict.fromkeys((name, name.split("_")[0]))
    return [translations[n] for n in names if n in translations]


def load_translations(directory: Path, context: dict[str, Any], rule_ids: set[str],
                      problems: list[Problem]) -> dict[str, Translation]:
    """`translations/LOCALE.yaml`, validated like rules; unknown rule ids are errors (play and
    step ids are checked when the plays load: playbooks/loader.py)."""
    out: dict[str, Translation] = {}
    for file in yaml_files(directory / "translations"):
        named = locale_name(file.stem)
        if named != file.stem:  # a config's `locale:` would never find it
            problems.append(Problem(Location(str(file)), "", named))
            continue
        if file.stem in out:  # ru.yaml and ru.yml: one would have hidden the other
            problems.append(Problem(Location(str(file)), "", f"a second translation for {file.stem};"
                                    " keep one file per locale"))
            continue
        try:
            raw = load_yaml(file)
            tr = Translation.model_validate(raw or {}, context=context)
        except ValidationFailed as exc:
            problems += exc.problems
            continue
        except ValidationError as exc:
            problems += problems_from(exc, raw, str(file), Translation)
            continue
        for rule_id in tr.rules:
            if rule_id not in rule_ids and not problems:  # (a rule file that failed hides its ids)
                problems.append(Problem(locate(raw, ("rules", rule_id), str(file)), rule_id,
                                        f"no rule {rule_id!r} in this pack"))
        out[file.stem] = tr
    return out


def locale_name(stem: str) -> str:
    """A translation file's locale as a config's `locale:` finds it (`de_CH`, `sr_Latn`), or
    what is wrong with the file's name."""
    from kamrules.language.template import parse_locale

    try:
        name = str(parse_locale(stem))
    except ValueError:
        return (f"{stem!r} is not a locale: name a translation for its locale, such as ru.yaml,"
                " de_CH.yaml or sr_Latn.yaml")
    return stem if name == stem else f"name this translation {name}.yaml: `locale: {name}` finds it"
