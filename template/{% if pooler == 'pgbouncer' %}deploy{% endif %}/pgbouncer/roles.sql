-- Role defaults for the app's role behind PgBouncer (transaction mode).
-- pgdbm sends these settings at connect time; PgBouncer drops them (see
-- ignore_startup_parameters in pgbouncer.ini), so the server applies them per role.
-- The search_path pin is checked by pgdbm at start-up; the timeouts are not, so keep
-- statement_timeout equal to STATEMENT_TIMEOUT_MS and lock_timeout to LOCK_TIMEOUT_MS.
-- Migrations connect directly, with their own (longer) statement timeout.
-- Run as the app's role: psql "$MIGRATION_DATABASE_URL" -f deploy/pgbouncer/roles.sql
-- (compose.yaml runs it when the db volume is first created). New values reach only new
-- server connections: run RECONNECT on PgBouncer's admin console afterwards.
ALTER ROLE CURRENT_USER SET search_path = pg_catalog;
ALTER ROLE CURRENT_USER SET jit = off;
ALTER ROLE CURRENT_USER SET statement_timeout = '5s';
ALTER ROLE CURRENT_USER SET lock_timeout = '2s';
ALTER ROLE CURRENT_USER SET idle_in_transaction_session_timeout = '60s';
