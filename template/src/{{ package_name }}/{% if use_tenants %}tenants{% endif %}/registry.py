"""The tenant registry: one row per tenant in REGISTRY_SCHEMA, with its provisioning status."""

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel

from ..database import ServiceDatabase


class TenantStatus(StrEnum):
    PROVISIONING = "provisioning"  # schema being created or migrated (or a crash left it so)
    ACTIVE = "active"  # migrated: requests are served
    FAILED = "failed"  # a migration failed; `error` says why, provisioning again retries
    DROPPING = "dropping"  # being dropped; dropping again finishes the job


class Tenant(BaseModel):
    tenant_id: str
    schema_name: str
    status: TenantStatus
    error: str | None
    created_at: datetime
    updated_at: datetime


# The DELETE runs in the same transaction as DROP SCHEMA, on the tenant's connection.
DELETE_TENANT = "DELETE FROM {{tables.tenants}} WHERE tenant_id = $1"


class TenantRegistry:
    def __init__(self, db: ServiceDatabase) -> None:
        self.db = db  # bound to REGISTRY_SCHEMA

    async def get(self, tenant_id: str) -> Tenant | None:
        row = await self.db.fetch_one(
            "SELECT * FROM {{tables.tenants}} WHERE tenant_id = $1", tenant_id
        )
        return None if row is None else Tenant.model_validate(row)

    async def all(self) -> list[Tenant]:
        rows = await self.db.fetch_all("SELECT * FROM {{tables.tenants}} ORDER BY tenant_id")
        return [Tenant.model_validate(row) for row in rows]

    async def start_provisioning(self, tenant_id: str, schema_name: str) -> Tenant:
        """Register the tenant, or mark a failed one as provisioning again (its schema kept)."""
        row = await self.db.fetch_one(
            "INSERT INTO {{tables.tenants}} (tenant_id, schema_name, status) VALUES ($1, $2, $3)"
            " ON CONFLICT (tenant_id) DO UPDATE"
            " SET status = EXCLUDED.status, error = NULL, updated_at = now()"
            " RETURNING *",
            tenant_id,
            schema_name,
            TenantStatus.PROVISIONING,
        )
        return Tenant.model_validate(row)

    async def set_status(
        self, tenant_id: str, status: TenantStatus, error: str | None = None
    ) -> Tenant:
        row = await self.db.fetch_one(
            "UPDATE {{tables.tenants}} SET status = $2, error = $3, updated_at = now()"
            " WHERE tenant_id = $1 RETURNING *",
            tenant_id,
            status,
            error,
        )
        if row is None:
            raise LookupError(f"tenant {tenant_id!r} vanished from the registry")
        return Tenant.model_validate(row)
