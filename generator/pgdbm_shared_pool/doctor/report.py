"""What the doctor concludes: findings per section, with the figures they were judged from.
Built by judge.py; printed by cli/doctor.py as text, or as JSON (`as_json`)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import Enum
from typing import Any

from .facts import RoleDefault, Server, Setting, StartupProbe


class Status(Enum):
    OK = "ok"
    WARN = "warn"
    FAIL = "fail"


@dataclass(frozen=True)
class Finding:
    status: Status
    label: str
    text: str
    notes: tuple[str, ...] = ()  # how the verdict was reached, one line each
    source: str | None = None  # the file (or flag) a figure came from


@dataclass(frozen=True, kw_only=True)
class Section:
    """What every section of the report has: its findings, in the order they are shown."""

    findings: tuple[Finding, ...]


@dataclass(frozen=True)
class ServerSection(Section):
    server: Server
    in_use: int
    by_application: dict[str, int]


@dataclass(frozen=True)
class AppliedModule:
    module_name: str | None
    applied: tuple[str, ...]
    last_applied_at: str


@dataclass(frozen=True)
class SchemaState:
    schema: str
    readable: bool
    modules: tuple[AppliedModule, ...]


@dataclass(frozen=True)
class MigrationCheck:
    """Files on disk against the tracking rows of the schema and module that applied them."""

    schema: str
    module_name: str
    kind: str
    path: str
    files: int
    pending: tuple[str, ...]
    drift: tuple[str, ...]
    missing_on_disk: tuple[str, ...]
    other_modules: tuple[str, ...]  # the schema's other module_name values


@dataclass(frozen=True)
class MigrationsSection(Section):
    schemas: tuple[SchemaState, ...]
    project: tuple[MigrationCheck, ...] | None  # None: no --app given


@dataclass(frozen=True)
class BudgetSection(Section):
    pool_max: Setting[int]
    workers: int
    replicas: int
    demand: int
    reserved: int
    used_by_others: int
    available: int
    verdict: Status
    arithmetic: str


@dataclass(frozen=True)
class PoolerSection(Section):
    detected: bool
    backend_pid: int
    announced_pid: int
    startup_parameters: StartupProbe
    role_defaults: dict[str, RoleDefault | None]


@dataclass(frozen=True)
class SearchPathSection(Section):
    pin: str
    passes: bool
    effective: str
    source: str
    role_default: RoleDefault | None
    without_startup_parameter: str


@dataclass(frozen=True)
class Report:
    dsn: str  # password masked
    read_only: bool
    server: ServerSection
    migrations: MigrationsSection
    pool_budget: BudgetSection
    pooler: PoolerSection
    search_path: SearchPathSection
    verdict: Status
    problems: tuple[str, ...]  # one line per failed finding
    warnings: int

    @property
    def ok(self) -> bool:
        return not self.problems

    def sections(self) -> dict[str, Section]:
        """Title -> section, in report order."""
        return {
            "Server": self.server,
            "Migrations": self.migrations,
            "Pool budget": self.pool_budget,
            "Pooler": self.pooler,
            "search_path pin": self.search_path,
        }


def as_json(report: Report) -> dict[str, Any]:
    """The report as JSON-ready data: enums by value, tuples as lists."""
    data: dict[str, Any] = _plain(dataclasses.asdict(report))
    data["ok"] = report.ok
    return data


def _plain(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value
