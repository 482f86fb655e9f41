"""Alembic migrations of the archive schema, run by :func:`godel.archive.open_archive` on open."""
