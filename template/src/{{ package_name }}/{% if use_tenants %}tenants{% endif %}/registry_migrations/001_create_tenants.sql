-- One row per tenant. The CHECKs repeat the id rules of ids.py, as a last line of defence.
CREATE TABLE {{tables.tenants}} (
    tenant_id TEXT PRIMARY KEY CHECK (tenant_id ~ '^[a-z][a-z0-9_]*$'),
    schema_name TEXT NOT NULL UNIQUE CHECK (octet_length(schema_name) <= 63),
    status TEXT NOT NULL CHECK (status IN ('provisioning', 'active', 'failed', 'dropping')),
    error TEXT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
