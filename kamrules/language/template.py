"""Rendering task text safely, for people.

Two syntaxes. `simple` (the default): `{name}` looks a plain name up in a flat dict, nothing
more. `jinja`: Jinja2's sandboxed environment (no attribute access into Python objects, no
imports, bounded in time and memory: kamrules/language/bounded.py) with Babel filters for
plural forms, numbers rounded for people, money in the configured currency and locale,
percentages and dates. A missing name is an error, never an
empty string; a value with nothing to show renders as "not recorded" in the task's language.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from functools import lru_cache
from math import copysign
from typing import Any

from babel import Locale
from babel.dates import format_date
from babel.numbers import format_currency, format_decimal, format_percent
from jinja2 import StrictUndefined, TemplateError, meta, pass_context

from kamrules.inputs.days import shifted
from kamrules.language.bounded import COLLECTIONS, BoundedSandbox, printed, refuse_past
from kamrules.language.template_code import code_of
from kamrules.language.textnames import PLACEHOLDER
from kamrules.memo import BoundedMemo

NOT_RECORDED = {"en": "not recorded", "ru": "не указано", "sr": "nije upisano"}
YES_NO = {"en": ("yes", "no"), "ru": ("да", "нет"), "sr": ("da", "ne")}
PLURAL_TAGS = ("zero", "one", "two", "few", "many", "other")
MEMO_SIZE = 65_536  # formatted numbers and dates one People keeps


def show(value: Any, language: str = "en") -> str:
    """A fact or param value as a person reads it (the `simple` syntax and evidence lists), its
    words in `language` (en, ru, sr; others English)."""
    if value is None:
        return NOT_RECORDED.get(language, NOT_RECORDED["en"])
    if isinstance(value, bool):
        yes, no = YES_NO.get(language, YES_NO["en"])
        return yes if value else no
    if isinstance(value, float):
        if value.is_integer():
            return f"{int(value):,}" if abs(value) >= 10_000 else str(int(value))
        return f"{value:,.2f}".rstrip("0").rstrip(".")
    if isinstance(value, list | tuple):
        return ", ".join(show(v, language) for v in value)
    return str(value)


def render(template: str, values: dict[str, Any], locale: str = "en") -> str:
    """`simple` syntax: replace each `{name}` with its shown value (words such as "not recorded"
    in the locale's language); `{{`/`}}` are literal braces."""
    language = locale.split("_")[0]

    def substitute(match: Any) -> str:
        token = match.group(0)
        if token == "{{":
            return "{"
        if token == "}}":
            return "}"
        name = match.group(1)
        return show(values[name], language) if name in values else token

    return PLACEHOLDER.sub(substitute, template)


def parse_locale(name: str) -> Locale:
    """A Babel locale from `en`, `ru`, `sr_Latn`, `de-CH`...; ValueError when unknown."""
    try:
        return Locale.parse(name.replace("-", "_"))
    except Exception as exc:  # babel raises several types for unknown identifiers
        raise ValueError(f"unknown locale {name!r} ({exc})" if str(exc) != f"unknown locale {name!r}"
                         else f"unknown locale {name!r}; write a language code such as en, de,"
                              " ru, sr or sr_Latn") from None


class People:
    """Babel formatting for one locale and currency: what the template filters call."""

    def __init__(self, locale: str = "en", currency: str = "EUR", as_of: date | None = None):
        self.locale = parse_locale(locale)
        self.language = self.locale.language
        self.currency = currency
        self.as_of = as_of or date.today()
        tags = self.locale.plural_form.tags | {"other"}
        self.tags = [t for t in PLURAL_TAGS if t in tags]
        pattern = self.locale.currency_formats["standard"].pattern
        self.money_pattern = pattern.split(";")[0].replace(".00", "").replace(",00", "")
        # Babel parses a pattern and builds Decimals on every call; task texts repeat the same
        # few numbers, so each filter keeps what it gave per argument (issue #18: 2.5x faster)
        self._memo: BoundedMemo[tuple[Any, ...], str] = BoundedMemo(MEMO_SIZE)

    def _cached(self, key: tuple[Any, ...], make: Any) -> str:
        """`make()`, remembered under `key` (bounded: a run's texts repeat few numbers)."""
        found = self._memo.get(key)
        if found is None:
            found = self._memo.remember(key, make())
        return found

    def none(self) -> str:
        return NOT_RECORDED.get(self.language, NOT_RECORDED["en"])

    def num(self, value: Any, digits: int | None = None) -> str:
        """A number rounded for people: whole above 10, one decimal below (or `digits`)."""
        if value is None:
            return self.none()
        if isinstance(value, bool):
            return YES_NO.get(self.language, YES_NO["en"])[0 if value else 1]
        x = _rounded(float(value), digits)
        if not _memoable(digits):
            return self._num(x, digits)
        return self._cached(("num", _key(x), digits), lambda: self._num(x, digits))

    def _num(self, x: float, digits: Any) -> str:
        if x.is_integer():
            return format_decimal(int(x), locale=self.locale)
        return format_decimal(x, format="#,##0." + "#" * (digits or 1), locale=self.locale)

    def money(self, value: Any) -> str:
        if value is None:
            return self.none()
        whole = round(float(value))
        return self._cached(("money", whole), lambda: format_currency(
            whole, self.currency, format=self.money_pattern, locale=self.locale,
            currency_digits=False))

    def pct(self, value: Any, digits: int = 0) -> str:
        """A value in percent units (17.4 -> "17%")."""
        if value is None:
            return self.none()
        fmt = "#,##0%" if digits == 0 else "#,##0." + "#" * digits + "%"
        share = round(float(value), digits) / 100.0
        if not _memoable(digits):
            return format_percent(share, format=fmt, locale=self.locale)
        return self._cached(("pct", _key(share), digits),
                            lambda: format_percent(share, format=fmt, locale=self.locale))

    def form(self, count: Any, *forms: str) -> str:
        """The plural form for `count`: forms in the locale's CLDR order (en: one, other;
        ru: one, few, many; sr: one, few, other)."""
        if not forms:
            raise ValueError("plural needs at least one form")
        x = round(float(count or 0), 1)
        tag = self._cached(("form", _key(x)),
                           lambda: self.locale.plural_form(int(x) if x.is_integer() else x))
        i = self.tags.index(tag) if tag in self.tags else len(self.tags) - 1
        return forms[min(i, len(forms) - 1)]

    def plural(self, count: Any, *forms: str) -> str:
        """`3 contacts`: the number rounded for people, then its plural form (remembered whole
        for an int or float count: task texts ask for the same few, ~85,000 times a run of
        100,000 accounts; a bool, a text or another type goes the long way every time)."""
        if count is None:
            return self.none()
        kind = type(count)
        if kind is not int and kind is not float:
            return self._plural(count, forms)
        key = ("plural", kind, _key(count) if kind is float else count, forms)
        found = self._memo.get(key)
        if found is None:
            found = self._memo.remember(key, self._plural(count, forms))
        return found

    def _plural(self, count: Any, forms: tuple[str, ...]) -> str:
        return f"{self.num(count)} {self.form(_rounded(float(count)), *forms)}"

    def date(self, value: Any) -> str:
        if value is None:
            return self.none()
        d = date.fromisoformat(value) if isinstance(value, str) else value
        if type(d) is not date:  # a datetime or another type: as Babel formats it, not kept
            return format_date(d, "medium", locale=self.locale)
        return self._cached(("date", d), lambda: format_date(d, "medium", locale=self.locale))

    def ago(self, days: Any) -> str:
        """The date `days` days before the run's date (at most back to the calendar's start)."""
        if days is None:
            return self.none()
        return self.date(shifted(self.as_of, -int(days)))

    def finalize(self, value: Any) -> Any:
        if value is None:
            return self.none()
        if isinstance(value, bool):
            return YES_NO.get(self.language, YES_NO["en"])[0 if value else 1]
        if isinstance(value, float):
            return self.num(value)
        if isinstance(value, COLLECTIONS):  # `{{ items }}` prints it: within the bounds
            refuse_past(printed(value))
        return value


def _key(x: float) -> Any:
    """A float as a memo key: -0.0 equals 0.0 as a key but Babel shows it as "-0"."""
    return x if x or copysign(1.0, x) > 0 else "-0"


def _memoable(digits: Any) -> bool:
    """A `digits` argument that keys the memo as it formats (None or a plain int)."""
    return digits is None or type(digits) is int


def _rounded(x: float, digits: int | None = None) -> float:
    """Whole numbers from 10 up, one decimal below (or `digits`)."""
    if digits is None:
        digits = 0 if abs(x) >= 10 else 1
    return float(round(x, digits))


def _environment(people: People | None) -> BoundedSandbox:
    env = BoundedSandbox(undefined=StrictUndefined, autoescape=False,
                               keep_trailing_newline=False, trim_blocks=True, lstrip_blocks=True,
                               finalize=people.finalize if people else None)
    p = people or People()
    env.filters.update(num=p.num, money=p.money, pct=p.pct, plural=p.plural, form=p.form,
                       date=p.date, ago=pass_context(lambda _context, days: p.ago(days)))
    # `ago`, the one filter that reads the run's date, takes the render's context so that Jinja
    # never folds it into the code while compiling (`{{ 30|ago }}`): a text's code is then the
    # same on every date, and kept for the next night's run (language/template_code.py)
    return env


@lru_cache(maxsize=16)
def people(locale: str, currency: str, as_of: date) -> People:
    """One shared People per locale, currency and date (it keeps what it formatted; the date
    is given, never today's, so a long-lived process never keeps a stale one)."""
    return People(locale, currency, as_of)


@lru_cache(maxsize=16)
def _env(locale: str, currency: str, as_of: date) -> BoundedSandbox:
    return _environment(people(locale, currency, as_of))


@contextmanager
def _not_too_deep() -> Iterator[None]:
    """Jinja's parser and Python's compiler recurse once per level of nesting: a template
    nested some hundred levels deep (brackets, `{% if %}` blocks, `1 + 1 + ...`) was exit 5."""
    try:
        yield
    except (RecursionError, SyntaxError):  # SyntaxError: "too many levels of indentation"
        raise TemplateError("the template nests too deeply (brackets, blocks or operators);"
                            " split it up") from None


@lru_cache(maxsize=4096)
def _compiled(locale: str, currency: str, as_of: date, source: str) -> Any:
    env = _env(locale, currency, as_of)

    def compile_text() -> Any:
        with _not_too_deep():
            return env.compile(source)

    # what Environment.from_string does, with the code kept on disk for the next command
    code = code_of(f"{locale}|{currency}", source, compile_text)
    template = env.template_class.from_code(env, code, env.make_globals(None), None)
    # Jinja chains the template's globals to the environment's (a ChainMap) and copies them
    # into every render's context; the environment is never changed after it is made, so one
    # plain dict is the same names and costs a third of a render less (issue #18)
    template.globals = dict(template.globals)
    return template


def compile_jinja(source: str, locale: str, currency: str, as_of: date) -> None:
    """Compile `source` for rendering now: a process forked afterwards (a text renderer)
    inherits it instead of compiling it again. Raises jinja2.TemplateError as rendering would."""
    _compiled(locale, currency, as_of, source)


def render_jinja(source: str, values: dict[str, Any], locale: str = "en",
                 currency: str = "EUR", as_of: date | None = None) -> str:
    """`jinja` syntax: render in the sandbox with the locale's filters."""
    return _compiled(locale, currency, as_of or date.today(), source).render(values)


_CHECKER = _environment(None)


# the names of templates checked in this process, or by the load that made a cached pack
# (`LoadedPack.text_names`): a run's workers and renderers would each check a pack's ~100 texts
# again (~0.1 s a process, issue #18)
_NAMES: dict[str, frozenset[str]] = {}
MAX_NAMES = 4096


def jinja_names(source: str) -> frozenset[str]:
    """The names a Jinja template reads; raises jinja2.TemplateError when it is not valid
    (bad syntax, unknown filter)."""
    known = _NAMES.get(source)
    if known is not None:
        return known
    with _not_too_deep():
        tree = _CHECKER.parse(source)
        _CHECKER.compile(tree)  # unknown filters and tests fail here
        names = frozenset(meta.find_undeclared_variables(tree))
    if len(_NAMES) >= MAX_NAMES:
        _NAMES.clear()
    _NAMES[source] = names
    return names


def remember_names(names: dict[str, frozenset[str]]) -> None:
    """What `jinja_names` found for these sources in the process that loaded a cached pack (the
    same code: the cache is keyed by it), so this one does not check them again."""
    if len(_NAMES) + len(names) <= MAX_NAMES:
        _NAMES.update(names)
