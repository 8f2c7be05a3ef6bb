"""Scaffold, lint and inspect FastAPI apps that share one pgdbm pool."""

__version__ = "0.1.0"
