"""Retries with exponential backoff and full jitter, shared by the remote connectors."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

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
        """The wait before retry number `attempt` (0-based); a server's Retry-After is a floor."""
        cap = min(self.settings.max_seconds, self.settings.base_seconds * (2 ** attempt))
        return max(at_least, self.rng.uniform(0, cap))

    def wait(self, attempt: int, at_least: float = 0.0) -> None:
        self.sleep(self.delay(attempt, at_least))
