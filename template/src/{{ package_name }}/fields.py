"""Request field types every router shares: the limits of what PostgreSQL stores."""

from typing import Annotated

from fastapi import Path

NO_NUL = r"^[^\x00]*$"  # PostgreSQL text cannot hold NUL
RowId = Annotated[int, Path(ge=1, le=2**63 - 1)]  # BIGINT range: larger ids cannot exist
