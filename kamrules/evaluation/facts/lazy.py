"""One account's facts, each computed the first time something reads it (issue #18).

Most accounts are read by a handful of rules (37 of kam-core's 41 apply to key accounts only),
so a run computes only the facts its in-scope rules, their evidence, task text and plays read,
instead of every registered fact of every account. Values are those of `facts_for`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from kamrules.evaluation.facts.registry import REGISTRY, FactValue

if TYPE_CHECKING:
    from kamrules.evaluation.facts.view import AccountView


_MISSING = object()
_get = dict.get


class LazyFacts(dict[str, FactValue]):
    """A dict of the facts computed so far; `facts[name]` and `facts.get(name)` compute a
    registered fact on first use. Iterating or copying it gives only the computed ones."""

    __slots__ = ("view",)

    def __init__(self, view: AccountView):
        super().__init__()
        self.view = view

    def __missing__(self, name: str) -> FactValue:
        spec = REGISTRY.get(name)
        if spec is None:
            raise KeyError(name)
        value = spec.func(self.view)
        self[name] = value
        return value

    def get(self, name: str, default: Any = None) -> Any:  # type: ignore[override]
        value = _get(self, name, _MISSING)  # computed already (a third of the reads in a run)
        if value is not _MISSING:
            return value
        spec = REGISTRY.get(name)
        if spec is None:
            return default
        value = self[name] = spec.func(self.view)
        return value

    def fill(self, names: Iterable[str]) -> LazyFacts:
        """Compute the named facts now (those a template reads), so a copy holds them."""
        view = self.view
        for name in [n for n in names if n not in self]:
            spec = REGISTRY.get(name)
            if spec is not None:
                self[name] = spec.func(view)
        return self
