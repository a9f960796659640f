"""Fixtures for the security services that need a database: reuse the case factories."""

from __future__ import annotations

from tests.cases.conftest import db, factory  # noqa: F401  (fixtures, by name)
