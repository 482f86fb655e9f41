"""Turning database driver errors into :class:`ArchiveError` messages that name the cause and the fix."""

from __future__ import annotations

import sqlalchemy as sa
import sqlalchemy.exc

from godel.errors import ArchiveError, ArchiveUnavailable

__all__ = ["db_error"]

_RESTORE = "godel did not change the file; restore it from a backup, or point --storage at a new file"


def db_error(exc: sa.exc.SQLAlchemyError, url: sa.URL, action: str) -> ArchiveError:
    """The :class:`ArchiveError` for a driver error raised while doing ``action`` on the archive at ``url``."""
    orig = getattr(exc, "orig", None) or exc
    msg = " ".join(str(orig).split())  # drivers put newlines and hints on separate lines
    low = msg.lower()
    where = url.render_as_string(hide_password=True)
    if url.get_backend_name() == "sqlite":
        path = url.database or ":memory:"
        if "file is not a database" in low or "malformed" in low or "not a database" in low:
            return ArchiveError(f"{path} is not a usable godel archive: SQLite says {msg!r}", hint=_RESTORE)
        if "unable to open database file" in low:
            return ArchiveError(
                f"cannot open the SQLite archive {path}: {msg}",
                hint="check that the directory exists and is writable by this user",
            )
        if "readonly" in low or "read-only" in low:
            return ArchiveError(
                f"the SQLite archive {path} is read-only: {msg}",
                hint="make the file and its directory writable (SQLite also writes -wal/-shm files beside it)",
            )
        if "locked" in low or "busy" in low:
            return ArchiveError(
                f"the SQLite archive {path} stayed locked by another process while {action}: {msg}",
                hint="another godel process holds a long write lock; wait for it, or use PostgreSQL for many "
                "concurrent writers",
            )
        if "disk i/o" in low or "full" in low:
            return ArchiveError(
                f"I/O error on the SQLite archive {path} while {action}: {msg}",
                hint="check free disk space and the health of the filesystem",
            )
        return ArchiveError(f"SQLite error on {path} while {action}: {msg}")
    host = f"{url.host or 'localhost'}:{url.port or 5432}"
    if "password authentication failed" in low or ("role" in low and "does not exist" in low):
        return ArchiveError(
            f"PostgreSQL at {host} refused the credentials of user {url.username!r}: {msg}",
            hint="correct the user name and password in the archive URL (postgresql+psycopg://USER:PASSWORD@HOST"
            ":PORT/DB)",
        )
    if "no pg_hba.conf entry" in low:
        return ArchiveError(
            f"PostgreSQL at {host} does not allow this client to connect: {msg}",
            hint="add a pg_hba.conf entry for this host/user/database on the server",
        )
    if "database" in low and "does not exist" in low:
        return ArchiveError(
            f"the database {url.database!r} does not exist on the PostgreSQL server at {host}",
            hint=f"create it first: createdb -h {url.host or 'localhost'} -p {url.port or 5432} "
            f"-U {url.username or 'postgres'} {url.database}",
        )
    if isinstance(exc, sa.exc.OperationalError) and (
        "connection refused" in low
        or "could not connect" in low
        or "connection failed" in low
        or "timeout" in low
        or "could not translate host name" in low
        or "no route to host" in low
        or "server closed the connection" in low
    ):
        return ArchiveUnavailable(
            f"cannot reach the PostgreSQL server at {host} while {action}: {msg}",
            hint="start the server (for development: scripts/services) or correct host and port in the URL",
        )
    return ArchiveError(f"PostgreSQL error on {where} while {action}: {msg}")
