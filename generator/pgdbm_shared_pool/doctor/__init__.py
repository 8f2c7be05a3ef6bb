"""`shared-pool doctor` as a library: read-only inspection of a live database for a
shared-pool app. Facts are gathered (database.py from the server, project.py from disk) into
typed objects (facts.py), then judged (judge.py) into a Report (report.py). Gathering and
judging never import each other; this module joins them."""

from __future__ import annotations

from .database import mask_dsn, read_database
from .facts import ProjectFacts
from .judge import judge
from .project import read_project
from .report import Report, Status, as_json

__all__ = ["ProjectFacts", "Report", "Status", "as_json", "diagnose", "mask_dsn", "read_project"]


async def diagnose(
    dsn: str, project: ProjectFacts | None, *, pool_max: int | None, workers: int, replicas: int
) -> Report:
    """Inspect the database at `dsn` against the project (read_project), if given."""
    db = await read_database(dsn)
    return judge(mask_dsn(dsn), db, project, pool_max, workers, replicas)
