"""A small SOQL interpreter for the fake org: the subset the Salesforce connector emits.

SELECT fields and one level of child subqueries, FROM, WHERE with AND/OR/NOT, comparisons, LIKE,
IN lists and semi-join subqueries, and LIMIT. Conditions compile to Python closures.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

TOKEN = re.compile(r"""\s*(?:
    (?P<str>'(?:[^'\\]|\\.)*')
  | (?P<dt>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d))
  | (?P<date>\d{4}-\d\d-\d\d)
  | (?P<num>-?\d+(?:\.\d+)?)
  | (?P<op>!=|<=|>=|<>|=|<|>|\(|\)|,)
  | (?P<word>[A-Za-z_][A-Za-z0-9_.]*)
)""", re.X)

Pred = Callable[[dict[str, Any]], bool]


@dataclass
class Query:
    fields: list[str]
    obj: str
    where: Pred | None = None
    children: list[Query] = field(default_factory=list)  # obj = relationship name
    limit: int | None = None
    count: bool = False


def parse_time(text: str) -> datetime:
    text = text.replace("Z", "+00:00")
    if re.search(r"[+-]\d{4}$", text):
        text = text[:-2] + ":" + text[-2:]
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class Parser:
    """Recursive descent over tokens; `semi` runs a semi-join subquery to a set of ids."""

    def __init__(self, text: str, semi: Callable[[Query], set[Any]]):
        self.tokens: list[tuple[str, str]] = []
        pos = 0
        text = text.strip()
        while pos < len(text):
            m = TOKEN.match(text, pos)
            if not m or m.end() == pos:
                raise ValueError(f"unexpected SOQL at {text[pos:pos + 20]!r}")
            kind = m.lastgroup or ""
            self.tokens.append((kind, m.group(kind)))
            pos = m.end()
        self.i = 0
        self.semi = semi

    def peek(self, n: int = 0) -> tuple[str, str]:
        return self.tokens[self.i + n] if self.i + n < len(self.tokens) else ("eof", "")

    def word(self, *words: str) -> bool:
        kind, value = self.peek()
        if kind == "word" and value.upper() in words:
            self.i += 1
            return True
        return False

    def take(self, value: str | None = None) -> str:
        kind, got = self.peek()
        if value is not None and got.upper() != value:
            raise ValueError(f"expected {value}, got {got!r}")
        self.i += 1
        return got

    def query(self) -> Query:
        self.take("SELECT")
        fields: list[str] = []
        children: list[Query] = []
        count = False
        while True:
            if self.peek()[1] == "(":
                self.take("(")
                children.append(self.query())
                self.take(")")
            elif self.peek()[1].upper() == "COUNT" and self.peek(1)[1] == "(":
                self.i += 3
                count = True
            else:
                fields.append(self.take())
            if self.peek()[1] != ",":
                break
            self.take(",")
        self.take("FROM")
        q = Query(fields=fields, obj=self.take(), children=children, count=count)
        if self.word("WHERE"):
            q.where = self.expr()
        if self.word("ORDER"):
            self.take("BY")
            self.take()
            self.word("ASC", "DESC")
        if self.word("LIMIT"):
            q.limit = int(self.take())
        return q

    def expr(self) -> Pred:
        left = self.conj()
        while self.word("OR"):
            right = self.conj()
            left = (lambda a, b: lambda r: a(r) or b(r))(left, right)
        return left

    def conj(self) -> Pred:
        left = self.unary()
        while self.word("AND"):
            right = self.unary()
            left = (lambda a, b: lambda r: a(r) and b(r))(left, right)
        return left

    def unary(self) -> Pred:
        if self.word("NOT"):
            inner = self.unary()
            return lambda r: not inner(r)
        if self.peek()[1] == "(":
            self.take("(")
            inner = self.expr()
            self.take(")")
            return inner
        return self.comparison()

    def value(self) -> Any:
        kind, text = self.peek()
        self.i += 1
        if kind == "str":
            return re.sub(r"\\(.)", r"\1", text[1:-1])
        if kind == "dt":
            return parse_time(text)
        if kind == "num":
            return float(text)
        if kind == "date":
            return text
        if text.lower() in ("true", "false"):
            return text.lower() == "true"
        if text.lower() == "null":
            return None
        raise ValueError(f"unexpected value {text!r}")

    def comparison(self) -> Pred:
        name = self.take()
        negate = self.word("NOT")
        if self.word("IN"):
            self.take("(")
            if self.peek()[1].upper() == "SELECT":
                ids = self.semi(self.query())
            else:
                ids = {self.value()}
                while self.peek()[1] == ",":
                    self.take(",")
                    ids.add(self.value())
            self.take(")")
            return (lambda r: r.get(name) not in ids) if negate else (lambda r: r.get(name) in ids)
        if self.word("LIKE"):
            raw = self.value()
            pattern, escaped = "", False
            for c in str(raw):
                if escaped:
                    pattern, escaped = pattern + re.escape(c), False
                elif c == "\\":
                    escaped = True
                else:
                    pattern += ".*" if c == "%" else "." if c == "_" else re.escape(c)
            rx = re.compile(pattern, re.I | re.S)
            return lambda r: r.get(name) is not None and rx.fullmatch(str(r.get(name))) is not None
        op = self.take()
        literal = self.value()
        return compare(name, op, literal)


def compare(name: str, op: str, literal: Any) -> Pred:
    def get(r: dict[str, Any]) -> Any:
        v = r.get(name)
        if isinstance(literal, datetime) and isinstance(v, str):
            return parse_time(v)
        if isinstance(literal, float) and isinstance(v, int | float) and not isinstance(v, bool):
            return float(v)
        return v
    if op == "=":
        return lambda r: get(r) == literal
    if op in ("!=", "<>"):
        return lambda r: get(r) != literal
    ops = {"<": lambda a, b: a < b, ">": lambda a, b: a > b, "<=": lambda a, b: a <= b,
           ">=": lambda a, b: a >= b}[op]
    return lambda r: (v := get(r)) is not None and literal is not None and ops(v, literal)
