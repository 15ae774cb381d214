"""The numbers a pack or an override may give: what durable_rules compares exactly."""

from __future__ import annotations

import math
from typing import Any

MAX_INT = 2**53  # integers past this are not exact as the doubles durable_rules compares


def check_number(value: Any) -> None:
    """Numbers a pack or an override gives: finite (`.inf`/`.nan` would silently switch a rule
    off) and integers within +-2**53 (compared exactly)."""
    for item in value if isinstance(value, list) else [value]:
        if isinstance(item, bool) or not isinstance(item, int | float):
            continue
        if isinstance(item, float) and not math.isfinite(item):
            raise ValueError(f"{item!r} is not a finite number")
        if isinstance(item, int) and abs(item) > MAX_INT:
            raise ValueError(f"{item} is out of range (integers up to {MAX_INT:,} either way)")
