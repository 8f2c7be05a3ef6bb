"""The generated app with bench/proposed.py's TimeoutScopeServiceDatabase in place of its
ServiceDatabase, for bench/http_e2e.py: uvicorn proposed_app:app (with the rendered src/
and bench/ importable). open_databases() looks the class up when the lifespan starts,
after this module ran, so replacing the module attribute is enough.
"""

import proposed
from bench_app import database
from bench_app.main import app

database.ServiceDatabase = proposed.TimeoutScopeServiceDatabase  # type: ignore[misc]

__all__ = ["app"]
