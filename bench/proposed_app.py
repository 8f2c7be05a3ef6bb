"""The generated app with some of bench/proposed.py's changes patched in, for
bench/http_e2e.py: BENCH_FIXES=dependency,database uvicorn proposed_app:app (with the
rendered src/ and bench/ importable).

  dependency   database_for() as an async dependency (patched before the routers import it)
  database     TimeoutScopeServiceDatabase in place of ServiceDatabase (open_databases()
               looks the class up in the lifespan, after this module ran)
"""

import os

import proposed
from bench_app import database, dependencies

FIXES = {fix for fix in os.environ.get("BENCH_FIXES", "").split(",") if fix}
UNKNOWN = FIXES - {"dependency", "database"}
if UNKNOWN:
    raise SystemExit(f"unknown BENCH_FIXES {sorted(UNKNOWN)}")
if "dependency" in FIXES:
    dependencies.database_for = proposed.async_database_for  # type: ignore[assignment]
if "database" in FIXES:
    database.ServiceDatabase = proposed.TimeoutScopeServiceDatabase  # type: ignore[misc]

from bench_app.main import app  # noqa: E402  (after the patches, so the routers see them)

__all__ = ["app"]
