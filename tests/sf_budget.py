"""The API-call yardstick of issue #4: per object pulled, its records over the page size, plus
tasks written over 200, rounded up, plus a constant for login, describes and the task read-back."""

from __future__ import annotations

import math

from tests.fake_salesforce import FakeOrg

TASK_READBACK = "Task"


def minimal_calls(org: FakeOrg, written: int, page: int = 2000, login: int = 0) -> int:
    pulled = sum(math.ceil(n / page) for obj, n in org.returned.items() if obj != TASK_READBACK)
    readback = max(1, math.ceil(org.returned.get(TASK_READBACK, 0) / page))
    return pulled + math.ceil(written / 200) + login + org.calls["describe"] + readback
