"""Request field types every router shares: the limits of what PostgreSQL stores."""

from typing import Annotated

from fastapi import Path
from pydantic import AfterValidator, Field

NO_NUL = r"^[^\x00]*$"  # PostgreSQL text cannot hold NUL
RowId = Annotated[int, Path(ge=1, le=2**63 - 1)]  # BIGINT range: larger ids cannot exist

# Some character that is not whitespace, and no NUL. The schema states it in Python's
# regex dialect; pydantic checks patterns with Rust's, whose \s lacks \x1c-\x1f, so
# trimmed() checks again with str.strip(), which is what stores the name.
NON_BLANK = r"^\s*[^\s\x00][^\x00]*$"


def trimmed(value: str) -> str:
    """The name without surrounding whitespace; a blank one is refused (422)."""
    value = value.strip()
    if not value:
        raise ValueError("must not be blank")
    return value


Name = Annotated[
    str, Field(min_length=1, max_length=200, pattern=NON_BLANK), AfterValidator(trimmed)
]
