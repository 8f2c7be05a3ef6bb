"""Tenant ids: a strict allow-list, checked before any SQL. Bad ids are rejected, never fixed.

PostgreSQL silently truncates identifiers to 63 bytes, so two long ids could share one
schema (one tenant reading another's rows); changing the case or trimming an id would
merge tenants the same way. Anything that is not already a safe name is refused.
"""

import re
from collections.abc import Collection

from . import REGISTRY_SCHEMA, RESERVED_WORDS, SCHEMA_PREFIX

MAX_IDENTIFIER_BYTES = 63  # NAMEDATALEN - 1
TENANT_ID = re.compile(r"[a-z][a-z0-9_]*")  # ASCII only, so one character is one byte
MAX_TENANT_ID_LENGTH = MAX_IDENTIFIER_BYTES - len(SCHEMA_PREFIX.encode())


class InvalidTenantId(ValueError):
    """The id can never name a tenant; the message says which rule it breaks."""


class TenantIdTaken(InvalidTenantId):
    """Well formed, but the name belongs to PostgreSQL or to this app."""


def tenant_schema(tenant_id: str, taken: Collection[str] = ()) -> str:
    """The schema of `tenant_id`, or InvalidTenantId. `taken`: schemas that mean something else."""
    shown = ascii(tenant_id)  # escapes control and non-ASCII characters in messages and logs
    if not isinstance(tenant_id, str) or not TENANT_ID.fullmatch(tenant_id):
        raise InvalidTenantId(
            f"tenant id {shown}: use lower-case ASCII letters, digits and _, starting with a letter"
        )
    schema = SCHEMA_PREFIX + tenant_id
    if len(schema.encode()) > MAX_IDENTIFIER_BYTES:
        raise InvalidTenantId(
            f"tenant id {shown}: longer than {MAX_TENANT_ID_LENGTH} characters "
            f"(schema {schema!r} would exceed PostgreSQL's {MAX_IDENTIFIER_BYTES} bytes)"
        )
    for name in (tenant_id, schema):
        if name in RESERVED_WORDS:
            raise TenantIdTaken(f"tenant id {shown}: {name!r} is a reserved PostgreSQL word")
        if name.startswith("pg_"):
            raise TenantIdTaken(f"tenant id {shown}: names starting pg_ belong to PostgreSQL")
        # Never a name that already means something here, so `drop <id>` is unambiguous.
        if name == REGISTRY_SCHEMA or name in taken:
            raise TenantIdTaken(f"tenant id {shown}: {name!r} is already a schema of this app")
    return schema
