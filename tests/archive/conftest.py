"""The archive tests use the shared PostgreSQL fixtures of tests/conftest.py (postgres_url, pg_schema_url)."""
