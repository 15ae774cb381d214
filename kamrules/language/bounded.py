"""Jinja's sandbox with bounds: a template runs in bounded time and memory, whatever it says.

Jinja's sandbox keeps a template away from Python's internals, not from the machine: `{{ 'x'
* 10**9 }}` ran out of memory, `{{ 10**(10**10) }}` computed for hours (while `validate` compiled
it: Jinja folds constants), nested loops over `range(100000)` ran for minutes and a macro
calling itself was exit 5. Here every value a template builds (an operator's result, a `~`
concatenation, a filter's or method's result, the text rendered) is at most MAX_CHARS characters
(a whole number at most MAX_BITS bits), what a function that sets a size (`center(n)`,
`replace`, `join`, printing a list) would build is estimated before it runs, one render builds
at most MAX_BUILT characters in all and takes at most MAX_STEPS loop turns and calls. Past a
bound, TooBig (a TemplateError) stops the render, so task text falls back as for any failing
template.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from functools import wraps
from typing import Any

from jinja2 import nodes, pass_context, pass_eval_context
from jinja2.compiler import CodeGenerator, Frame
from jinja2.nodes import EvalContext
from jinja2.runtime import Context, markup_join, str_join
from jinja2.sandbox import SandboxedEnvironment, SecurityError
from jinja2.utils import _PassArg

MAX_CHARS = 10_000_000  # characters (or items) of a value or text: a digest of 100,000 tasks
MAX_BITS = 16_384  # a whole number's bits: ~4,900 digits (Python shows at most 4,300)
MAX_BUILT = 100_000_000  # characters built by one render, all values together
MAX_STEPS = 1_000_000  # loop turns and calls in one render (~0.3 s): ten `range(100000)` loops
NUMBER = re.compile(r"\d+")


class TooBig(SecurityError):
    """A template went past one of the bounds (a TemplateError: rendering reports it)."""


def size(value: Any) -> int:
    """Characters of a text, or items of a collection (at once: it is asked of every filter's
    value, also in loops; what joining the items builds is estimated where they are joined)."""
    if isinstance(value, str | list | tuple | set | frozenset | dict):
        return len(value)
    return 0


COLLECTIONS = (list, tuple, set, frozenset, dict)
_END = object()


def printed(value: Any) -> int:
    """About how long `str(value)` gets, counted only until past MAX_CHARS: a list may hold a
    long text many times over by reference (`ns.items.append(text)` in a loop), cheap to keep
    and not to print."""
    total, stack = 0, [iter((value,))]
    while stack and total <= MAX_CHARS:
        item = next(stack[-1], _END)
        if item is _END:
            stack.pop()
        elif isinstance(item, str):
            total += len(item) + 4
        elif isinstance(item, COLLECTIONS):
            stack.append(iter(item.items() if isinstance(item, dict) else item))
            total += 2
        else:
            total += 8
    return total


def checked(value: Any) -> Any:
    """`value`, refused when it is past the bounds."""
    if isinstance(value, int) and value.bit_length() > MAX_BITS:
        raise TooBig(f"a number of more than {MAX_BITS:,} bits")
    if size(value) > MAX_CHARS:
        raise TooBig(f"a value of more than {MAX_CHARS:,} characters")
    return value


class BoundedContext(Context):
    """A render's context: making one starts the render's count of characters built."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        _BUILT.set([0])


_BUILT: ContextVar[list[int] | None] = ContextVar("kamrules_built", default=None)


def spent(value: Any) -> Any:
    """`value`, its characters counted as built by this render: many texts each within the
    bounds (`{{ 'x' * 9999999 }}` in a macro's loop) would add up past the memory."""
    built = _BUILT.get()
    if built is None:  # outside a render (none so far): a count of its own
        built = [0]
        _BUILT.set(built)
    built[0] += len(value) if type(value) is str else size(value)
    if built[0] > MAX_BUILT:
        raise TooBig(f"more than {MAX_BUILT:,} characters built for one text")
    return checked(value)


def refuse_past(estimate: int) -> None:
    """Refuse what would build about `estimate` characters, past MAX_CHARS."""
    if estimate > MAX_CHARS:
        raise TooBig(f"a value of about {estimate:,} characters (the limit is {MAX_CHARS:,})")


def _formatted(fmt: str, args: Iterable[Any]) -> int:
    """About how long `fmt` formatted with `args` gets (`%` or `{}` fields, widths in it)."""
    fields = fmt.count("%") + fmt.count("{")
    widest = max((int(n) for n in NUMBER.findall(fmt) if len(n) < 12), default=0)
    if any(len(n) >= 12 for n in NUMBER.findall(fmt)):
        widest = MAX_CHARS + 1
    longest = max((printed(a) for a in args), default=0)
    return len(fmt) + fields * (longest + widest)


# filters that take a collection as it is (the others print it: `str(items)`)
OF_COLLECTIONS = frozenset({
    "attr", "batch", "count", "default", "d", "dictsort", "first", "groupby", "items", "join",
    "last", "length", "list", "map", "max", "min", "random", "reject", "rejectattr", "reverse",
    "select", "selectattr", "slice", "sort", "sum", "unique"})
SIZED = frozenset({"center", "ljust", "rjust", "zfill", "wordwrap", "truncate", "batch", "slice"})


def _growth(name: str, target: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> int:
    """About how long the result of a function whose arguments set its size gets (`center(n)`,
    `replace`, `join`, `indent`, `format`): each multiplies what it is given."""
    first = args[0] if args else None
    if name in SIZED:
        numbers = [abs(v) for v in (*args, *kwargs.values())
                   if isinstance(v, int) and not isinstance(v, bool)]
        return size(target) + max(numbers, default=0)
    if name == "replace" and isinstance(target, str) and isinstance(first, str) and len(args) > 1:
        times = target.count(first) if first else len(target) + 1
        return len(target) + times * len(str(args[1]))
    if name == "join":  # the filter: items|join(sep); the method: sep.join(items)
        items, sep = (first, target) if isinstance(target, str) else (target, first)
        listed = list(items) if isinstance(items, list | tuple) else []
        return printed(listed) + len(listed) * (len(sep) if isinstance(sep, str) else 0)
    if name in ("indent", "expandtabs") and isinstance(target, str):
        width = first if first is not None else kwargs.get("width", kwargs.get("tabsize", 4))
        per = len(width) if isinstance(width, str) else abs(int(width or 0))
        return len(target) + (target.count("\n") + target.count("\t") + 1) * per
    if name in ("format", "format_map") and isinstance(target, str):
        return _formatted(target, (*args, *kwargs.values(), *_values(first)))
    return 0


def _values(value: Any) -> tuple[Any, ...]:
    return tuple(value.values()) if isinstance(value, dict) else ()


def bounded_filter(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    """A built-in Jinja filter whose value, size arguments and result stay within bounds."""
    passes = _PassArg.from_obj(function)

    @pass_context
    @wraps(function)
    def run(context: Context, *args: Any, **kwargs: Any) -> Any:
        value, rest = args[0] if args else None, args[1:]
        checked(value)
        if isinstance(value, COLLECTIONS) and name not in OF_COLLECTIONS:
            refuse_past(printed(value))  # `items|upper` prints the list first
        if name == "join" and value is not None and not isinstance(value, str):
            value = list(value)  # a generator (`map`) is sized before it is joined
            args = (value, *rest)
        refuse_past(_growth(name, value, rest, kwargs))
        lead = {_PassArg.context: (context,), _PassArg.eval_context: (context.eval_ctx,),
                _PassArg.environment: (context.environment,)}.get(passes, ())  # type: ignore[call-overload]
        return spent(function(*lead, *args, **kwargs))

    return run


@pass_eval_context
def counted(eval_ctx: EvalContext, iterable: Any) -> Iterator[Any]:
    """A loop's items, each counted as a step of the render."""
    for item in iterable:
        step(eval_ctx)
        yield item


def step(eval_ctx: EvalContext) -> None:
    """One more loop turn or call of this render (its EvalContext lives as long as it does)."""
    done = getattr(eval_ctx, "kamrules_steps", 0) + 1
    if done > MAX_STEPS:
        raise TooBig(f"more than {MAX_STEPS:,} loop turns and calls in one text")
    eval_ctx.kamrules_steps = done  # type: ignore[attr-defined]


class BoundedGenerator(CodeGenerator):
    """Jinja's code generator, counting loop turns and checking `~` concatenations."""

    def visit_Template(self, node: nodes.Template, frame: Frame | None = None) -> None:
        for loop in node.find_all(nodes.For):  # before Jinja collects the filters it uses
            loop.iter = nodes.Filter(loop.iter, "kamrules_counted", [], [], None, None,
                                     lineno=loop.iter.lineno)
        super().visit_Template(node, frame)

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.joined(context.eval_ctx, (")
        for part in node.nodes:
            self.visit(part, frame)
            self.write(", ")
        self.write("))")


class BoundedSandbox(SandboxedEnvironment):
    """The sandbox every task text and digest renders in (see the module's docstring)."""

    code_generator_class = BoundedGenerator
    context_class = BoundedContext
    intercepted_binops = frozenset({"*", "**", "+", "%"})  # also keeps them from compile-time folding

    def __init__(self, **options: Any):
        super().__init__(**options)  # (`People.finalize` bounds what `{{ items }}` prints)
        self.filters = {name: bounded_filter(name, f) for name, f in self.filters.items()}
        self.filters["kamrules_counted"] = counted
        self.globals.pop("lipsum", None)  # lorem ipsum: n paragraphs of it, no task's text

    @staticmethod
    def joined(eval_ctx: EvalContext, parts: tuple[Any, ...]) -> str:
        """`a ~ b ~ c`, refused before it would print a value past the bounds (`'' ~ items`)."""
        refuse_past(sum(len(p) if isinstance(p, str) else printed(p) for p in parts))
        return spent(markup_join(parts) if eval_ctx.autoescape else str_join(parts))

    def concat(self, parts: Iterable[str]) -> str:  # type: ignore[override]
        """A render's (or a block's) text, refused before it is joined past MAX_CHARS: its parts
        are literals of the template and values whose building was counted (`spent`)."""
        listed = parts if isinstance(parts, list) else list(parts)
        if sum(map(len, listed)) > MAX_CHARS:
            raise TooBig(f"a text of more than {MAX_CHARS:,} characters")
        return spent("".join(listed))

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        """`*`, `**`, `+` and `%`, refused before they would build a value past the bounds."""
        ints = all(isinstance(v, int) and not isinstance(v, bool) for v in (left, right))
        if operator == "**" and ints and abs(left) > 1 and right > 0:
            if right * left.bit_length() > MAX_BITS:
                raise TooBig(f"a number of more than {MAX_BITS:,} bits")
        elif operator == "*" and ints:
            if left.bit_length() + right.bit_length() > MAX_BITS:
                raise TooBig(f"a number of more than {MAX_BITS:,} bits")
        elif operator == "*":
            times = right if isinstance(right, int) else left if isinstance(left, int) else 1
            refuse_past(max(size(left), size(right)) * max(int(times), 0))
        elif operator == "+":
            refuse_past(size(left) + size(right))
        elif operator == "%" and isinstance(left, str):
            refuse_past(_formatted(left, right if isinstance(right, tuple) else (right,)))
        return spent(super().call_binop(context, operator, left, right))

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        """A call from the template: counted, its size arguments and growth bounded."""
        step(__context.eval_ctx)
        name = getattr(__obj, "__name__", "")
        target = getattr(getattr(__obj, "__wrapped__", __obj), "__self__", None)
        if name == "join" and isinstance(target, str) and args and not isinstance(args[0], str):
            args = (list(args[0]), *args[1:])  # a generator is sized before it is joined
        refuse_past(_growth(name, target, args, kwargs))
        return spent(super().call(__context, __obj, *args, **kwargs))
