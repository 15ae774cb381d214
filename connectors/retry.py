"""Retries with exponential backoff and full jitter, shared by the remote connectors."""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from kamrules.inputs.days import MAX_WAIT_SECONDS


class RetrySettings(BaseModel):
    """`crm.retry`: how often and how patiently to retry transient failures."""

    model_config = ConfigDict(extra="forbid")

    attempts: int = Field(default=5, ge=1, le=100, description="tries per call, the first included")
    base_seconds: float = Field(default=1.0, ge=0, le=MAX_WAIT_SECONDS)
    max_seconds: float = Field(default=60.0, ge=0, le=MAX_WAIT_SECONDS)


@dataclass
class Backoff:
    """Delays for one call's retries: random in [0, min(max, base * 2**n)] ("full jitter")."""

    settings: RetrySettings
    sleep: Callable[[float], None] = time.sleep
    rng: random.Random = field(default_factory=random.Random)

    def delay(self, attempt: int, at_least: float = 0.0) -> float:
        """The wait before retry number `attempt` (0-based); a server's Retry-After is a floor
        (up to MAX_WAIT_SECONDS: a run never sleeps longer on a server's word)."""
        cap = min(self.settings.max_seconds, self.settings.base_seconds * (2 ** attempt))
        return max(min(at_least, MAX_WAIT_SECONDS), self.rng.uniform(0, cap))

    def wait(self, attempt: int, at_least: float = 0.0) -> None:
        self.sleep(self.delay(attempt, at_least))


def retry_after(value: Any, default: float = 0.0) -> float:
    """A server's Retry-After header as seconds to wait: a number of seconds or an HTTP date
    (RFC 9110), at most MAX_WAIT_SECONDS; `default` when it is missing or says nothing usable
    (text, NaN, a date past)."""
    if value is None:
        return default
    text = str(value).strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            moment = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError, OverflowError):
            return default
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        seconds = (moment - datetime.now(UTC)).total_seconds()
    return min(seconds, MAX_WAIT_SECONDS) if seconds > 0 else default
