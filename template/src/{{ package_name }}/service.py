"""What the app knows about each service."""

from dataclasses import dataclass
from pathlib import Path

from fastapi import APIRouter


@dataclass(frozen=True)
class Service:
    """A service: its schema (named after it), its migrations folder and its routes."""

    schema: str
    migrations_path: Path
    router: APIRouter
