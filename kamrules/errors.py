"""Exit codes and the located errors that packs, configs and CRM input produce."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class ExitCode(IntEnum):
    """The process exit codes, named in one place (alert on anything but OK)."""

    OK = 0
    PARTIAL_FAILURE = 1
    USAGE = 2
    LOCKED = 3
    CRM_ERROR = 4
    INTERNAL = 5
    DATA_QUALITY = 6
    ENVIRONMENT = 7


@dataclass(frozen=True, order=True)
class Location:
    file: str
    line: int = 0
    column: int = 0

    def __str__(self) -> str:
        if self.line:
            return f"{self.file}:{self.line}:{self.column}"
        return self.file


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with a user-written file, with where it is and what was expected."""

    location: Location
    path: str
    message: str

    def __str__(self) -> str:
        where = f" {self.path}:" if self.path else ""
        return f"{self.location}:{where} {self.message}"


class KamError(Exception):
    """An error the user can fix; the CLI prints it without a traceback."""

    exit_code: ExitCode = ExitCode.USAGE


class ValidationFailed(KamError):
    """A pack or config has problems: all of them, located."""

    def __init__(self, problems: list[Problem]):
        self.problems = sorted(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class CrmError(KamError):
    """The CRM refused or failed in a way that stops the run (auth, budget, unreachable)."""

    exit_code = ExitCode.CRM_ERROR


class LockedError(KamError):
    """Another run holds the lock for this config and CRM."""

    exit_code = ExitCode.LOCKED


class EnvironmentFailure(KamError):
    """A file or folder kamrules needs is unreadable, read-only, full or corrupt."""

    exit_code = ExitCode.ENVIRONMENT


class CasesFailed(KamError):
    """Some pack test cases failed."""

    exit_code = ExitCode.PARTIAL_FAILURE
