"""A service: its routes in router.py, its schema and migrations in schema.py."""

from ...service import Service
from .router import router
from .schema import MIGRATIONS_PATH, SCHEMA

SERVICE = Service(SCHEMA, MIGRATIONS_PATH, router)
