"""Alembic environment: godel runs migrations itself, on a connection it already holds.

``godel.archive._migrate`` passes that connection in ``config.attributes["connection"]``; there is no offline mode
(``alembic upgrade --sql``) because an archive is always migrated in place, inside one transaction.
"""

from __future__ import annotations

from alembic import context

from godel.archive._schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError(
        "godel's archive migrations run through godel.archive.open_archive(url), not the alembic command line"
    )
context.configure(
    connection=connection,
    target_metadata=metadata,
    # SQLite cannot ALTER most things in place; batch mode copies the table when a migration needs it.
    render_as_batch=True,
    transaction_per_migration=False,
)
with context.begin_transaction():  # joins the transaction godel already opened
    context.run_migrations()
