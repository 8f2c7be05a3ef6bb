"""What the doctor knows before it judges: typed, immutable facts about the server and the
project on disk. Gathered by database.py and project.py, judged by judge.py."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import Generic, TypeVar

T = TypeVar("T")


class Level(Enum):
    """Where a role/database setting default is set, weakest first (as the server applies)."""

    DATABASE = "database"
    ROLE = "role"
    ROLE_IN_DATABASE = "role in database"


class StartupOutcome(Enum):
    """What became of pgdbm's startup parameters on a connection shaped like its pool's."""

    APPLIED = "applied"
    DROPPED = "dropped"  # a pooler ignored them (ignore_startup_parameters)
    REJECTED = "rejected"  # a pooler refused the connection


class MigrationKind(Enum):
    SERVICE = "service"
    TENANT_REGISTRY = "tenant registry"
    TENANTS = "tenants"  # one set for every schema named prefix + tenant id


@dataclass(frozen=True)
class Server:
    version: str
    max_connections: int
    superuser_reserved: int
    reserved: int
    role: str
    database: str
    backend_pid: int


@dataclass(frozen=True)
class TrackingRow:
    filename: str
    checksum: str
    module_name: str | None
    applied_at: datetime


@dataclass(frozen=True)
class TrackingTable:
    """One schema's pgdbm tracking table; rows is None when this role may not read it."""

    schema: str
    rows: tuple[TrackingRow, ...] | None

    @property
    def readable(self) -> bool:
        return self.rows is not None


@dataclass(frozen=True)
class Setting(Generic[T]):
    """A setting's value and where it came from: a file of the project, a flag, or the
    server's pg_settings.source."""

    value: T
    source: str


@dataclass(frozen=True)
class RoleDefault:
    value: str
    level: Level


@dataclass(frozen=True)
class StartupProbe:
    outcome: StartupOutcome
    dropped: tuple[str, ...]
    search_path: str | None  # as the probe connection saw it (None: rejected)
    error: str | None = None


@dataclass(frozen=True)
class DatabaseFacts:
    server: Server
    connections: dict[str, int]  # application_name -> client backends, the doctor's included
    tracking: tuple[TrackingTable, ...]
    role_defaults: dict[str, RoleDefault]  # setting -> the default that wins
    session_defaults: dict[str, Setting[str]]  # pgdbm's startup settings without them
    read_only: bool
    announced_pid: int  # the pid the server (or a pooler) announced at connect
    startup_probe: StartupProbe

    @property
    def behind_pooler(self) -> bool:
        """A pooler answers the connection itself: the pid it announces is not the backend's."""
        return self.announced_pid != self.server.backend_pid


@dataclass(frozen=True)
class MigrationSet:
    """One migrations folder: for one schema (a service, the tenant registry), or for every
    schema named tenant_prefix + id (the tenants' set). `schema` is the one the project names;
    with `module_name_is_schema` (a project from this template) the project applies the
    folder under module_name = schema, as pgdbm does by default; otherwise where, and under
    which module_name, the folder was applied is read from the database."""

    kind: MigrationKind
    path: Path
    files: dict[str, str]  # filename -> pgdbm checksum, in pgdbm's order
    schema: str | None = None
    tenant_prefix: str | None = None
    module_name_is_schema: bool = True


@dataclass(frozen=True)
class ProjectFacts:
    migration_sets: tuple[MigrationSet, ...]
    pool_max: Setting[int] | None
    statement_cache_size: Setting[int] | None
    # The app's own timeouts (LOCK_TIMEOUT_MS, STATEMENT_TIMEOUT_MS), when its files set them.
    lock_timeout_ms: Setting[int] | None = None
    statement_timeout_ms: Setting[int] | None = None
