"""Numbers and dates as people type them into text: a CSV export's cells, a CRM's text fields.

Whichever of `.` and `,` groups the thousands and which marks the decimals (`1 250 000,50`,
`1.250.000,50`, `1,250,000.50`) is told by the text itself. One mark before exactly three
digits (`250.000`, `1,500`) may be either and is refused: `250.000`, German for 250,000, was
read as 250 without a word. A number a CRM types as one (a Salesforce number field, a HubSpot
number property) is machine-written and not read here. A date with dots is day first
(`31.10.2026`, Serbian `31.10.2026.`); one with slashes may be month or day first and is refused.
"""

from __future__ import annotations

import re

GROUPING = re.compile(r"(?<=\d)[ \u00a0\u202f'](?=\d)")  # 1 250 000, Swiss 1'250'000
DIGITS = re.compile(r"[+-]?\d[\d.,]*")
DOTTED = re.compile(r"(\d{1,2})\.(\d{1,2})\.(\d{4})\.?")  # 31.10.2026, Serbian 31.10.2026.
SLASHED = re.compile(r"\d{1,2}/\d{1,2}/\d{2,4}")


class Ambiguous(ValueError):
    """A number or date people wrote that reads as two different ones."""


def written_number(value: str, decimal: str | None = None) -> str:
    """`value` as a number's plain text (`1250000.50`); text that is not such a number is
    returned as it is, for the reader to refuse (`1e6`, `n/a`). Ambiguous for `250.000`, unless
    `decimal` says which mark is the decimal one (`,` or `.`, as the field's people write)."""
    if decimal is not None:
        return _with_decimal(value, decimal)
    spaced = bool(GROUPING.search(value))
    text = GROUPING.sub("", value.strip())
    if not DIGITS.fullmatch(text) or not {".", ","} & set(text):
        return text  # an integer, or for the reader to read or refuse
    sign, digits = (text[0], text[1:]) if text[0] in "+-" else ("", text)
    last = max(digits.rfind("."), digits.rfind(","))
    mark, head, tail = digits[last], digits[:last], digits[last + 1:]
    other = "," if mark == "." else "."
    if digits.count(mark) > 1:  # 1.250.000: a mark used twice only groups
        grouped = re.fullmatch(rf"[1-9]\d{{0,2}}(\{mark}\d{{3}})+", digits)
        return sign + digits.replace(mark, "") if grouped else value
    if other in head:  # 1.250.000,50: the last mark is the decimal one, the other groups
        grouped = re.fullmatch(rf"[1-9]\d{{0,2}}(\{other}\d{{3}})+", head)
        return f"{sign}{head.replace(other, '')}.{tail}" if grouped and tail.isdigit() else value
    if not spaced and len(tail) == 3 and 1 <= len(head) <= 3 and head[0] != "0":
        raise Ambiguous(f"{value!r} may be {sign}{head}{tail} or {sign}{float(f'{head}.{tail}'):g};"
                        " write it without a thousands separator")
    if head.isdigit() and tail.isdigit():  # 12,5  0,125  1 250,5
        return f"{sign}{head}.{tail}"
    return value


def _with_decimal(value: str, decimal: str) -> str:
    """`value` read with `decimal` as its decimal mark: the other mark (or a space) groups the
    thousands in threes; text holding that mark otherwise (`12.5` when `,` marks decimals) is a
    ValueError, and any other text is returned as it is."""
    group = "." if decimal == "," else ","
    text = GROUPING.sub("", value.strip())
    found = re.fullmatch(rf"([+-]?)(\d{{1,3}}(?:\{group}\d{{3}})+|\d+)(?:\{decimal}(\d+))?", text)
    if found is None:
        if group in text:
            raise ValueError(f"{value!r} does not group thousands by {group!r} in threes")
        return value
    sign, whole, fraction = found.groups()
    return f"{sign}{whole.replace(group, '')}" + (f".{fraction}" if fraction else "")


def written_date(value: str) -> str:
    """`value` as YYYY-MM-DD when it is a date day first with dots (as German, Russian and
    Serbian exports and users write it: every such one was refused); other text as it is, for
    the reader to read or refuse. Ambiguous for a date with slashes (`10/11/2026`)."""
    text = value.strip()
    if dotted := DOTTED.fullmatch(text):
        day, month, year = dotted.groups()
        return f"{year}-{int(month):02d}-{int(day):02d}"
    if SLASHED.fullmatch(text):
        raise Ambiguous(f"{value!r} may be month or day first; write YYYY-MM-DD (or DD.MM.YYYY)")
    return value
