"""Schema migrations with alembic, driven from code (`signoff db upgrade`, and `serve` at start)."""

from __future__ import annotations

import logging
from pathlib import Path

# alembic announces each of its plugins at INFO when `alembic.command` is imported; an operator
# starting `serve` needs none of that. Set before the import, since the lines come from it.
logging.getLogger("alembic").setLevel(logging.WARNING)

from alembic import command  # noqa: E402
from alembic.config import Config  # noqa: E402
from alembic.runtime.migration import MigrationContext  # noqa: E402
from alembic.script import ScriptDirectory  # noqa: E402

from storage.db import Database  # noqa: E402
from storage.errors import StorageConfigError  # noqa: E402

MIGRATIONS = Path(__file__).parent / "migrations"


def _config(db: Database) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", db.url.replace("%", "%%"))
    return config


# Replicas starting together on one PostgreSQL database migrate one after another: the first
# holds this advisory lock until its upgrade commits, the others then find nothing left to do.
MIGRATION_LOCK = 0x5167_6F66  # "Sgof"


def upgrade(db: Database, revision: str = "head") -> None:
    config = _config(db)
    with db.engine.begin() as connection:
        if not db.is_sqlite:
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def revision(db: Database, message: str) -> None:
    """For developers: autogenerate a new numbered migration from the models."""
    config = _config(db)
    with db.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.revision(config, message=message, autogenerate=True)


def current_revision(db: Database) -> str | None:
    with db.engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    return ScriptDirectory.from_config(_config_for_scripts()).get_current_head()


def _config_for_scripts() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def require_current(db: Database) -> None:
    """Refuse to work on a database whose schema is not the one this code knows, without changing it.

    For commands that only read or record (the operator's CLI): migrating is `serve`'s and
    `signoff db upgrade`'s job, never a side effect of looking at a thread.
    """
    if db.sqlite_file_missing:
        raise StorageConfigError(
            f"no Signoff database at {db.safe_url}: check SIGNOFF_DATABASE_URL (and the directory you run in), "
            "or create it with `signoff db upgrade`"
        )
    current, head = current_revision(db), head_revision()
    if current == head:
        return
    if current is None:
        raise StorageConfigError(
            f"no Signoff schema in the database at {db.safe_url}: run `signoff db upgrade` "
            "(or `signoff serve`, which migrates at start), or check SIGNOFF_DATABASE_URL"
        )
    raise StorageConfigError(
        f"the database at {db.safe_url} is at schema revision {current}, this Signoff expects {head}: "
        "run `signoff db upgrade` (or, if the database is newer, this Signoff is older than the one that wrote it)"
    )
