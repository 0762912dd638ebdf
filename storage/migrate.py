"""Schema migrations with alembic, driven from code (`signoff db upgrade`, and `serve` at start).

Migrations are written expand-then-contract: a release's migrations only add (tables, nullable
columns, columns with defaults, indexes), so replicas of the previous release keep working while
they run and after; what the new release no longer needs is removed by a later release's
migration (a contract). Each migration declares `oldest_compatible`, the oldest revision whose
code still runs on the schema it leaves; `upgrade` records it in `schema_compat`, and a release
that finds the database newer than it knows reads it (`inspect`) to decide whether it may serve.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

# alembic announces each of its plugins at INFO when `alembic.command` is imported; an operator
# starting `serve` needs none of that. Set before the import, since the lines come from it.
logging.getLogger("alembic").setLevel(logging.WARNING)

from alembic import command  # noqa: E402
from alembic.config import Config  # noqa: E402
from alembic.runtime.migration import MigrationContext  # noqa: E402
from alembic.script import ScriptDirectory  # noqa: E402
from sqlalchemy import inspect as sql_inspect  # noqa: E402
from sqlalchemy import text  # noqa: E402
from sqlalchemy.engine import Connection  # noqa: E402
from sqlalchemy.exc import OperationalError  # noqa: E402

from storage.db import Database  # noqa: E402
from storage.errors import DatabaseUnavailable, SchemaMismatch, StorageConfigError  # noqa: E402

log = logging.getLogger(__name__)
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
    try:
        with db.engine.begin() as connection:
            if not db.is_sqlite:
                connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
            _record_compatibility(connection)
    except OperationalError as exc:
        raise DatabaseUnavailable(_first_line(exc)) from exc


def _first_line(exc: Exception) -> str:
    """The driver's own first line, without SQLAlchemy's `(psycopg.OperationalError)` prefix."""
    cause = getattr(exc, "orig", None) or exc
    return str(cause).splitlines()[0] if str(cause) else type(cause).__name__


def _record_compatibility(connection: Connection) -> None:
    """Write the revision now current's `oldest_compatible` into `schema_compat` (from 0006 on)."""
    current = MigrationContext.configure(connection).get_current_revision()
    if current is None or not sql_inspect(connection).has_table("schema_compat"):
        return
    script = _scripts().get_revision(current)
    oldest = getattr(script.module, "oldest_compatible", current) if script is not None else current
    connection.execute(text("DELETE FROM schema_compat"))
    connection.execute(text("INSERT INTO schema_compat (oldest_compatible) VALUES (:oldest)"), {"oldest": oldest})


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
    return _scripts().get_current_head()


@functools.cache
def _scripts() -> ScriptDirectory:
    """The migrations shipped with this code: read once (/readyz asks on every probe)."""
    return ScriptDirectory.from_config(_config_for_scripts())


def _config_for_scripts() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def require_current(db: Database) -> None:
    """Refuse to work on a database whose schema this code may not use, without changing it.

    For commands that only read or record (the operator's CLI): migrating is `signoff db upgrade`'s
    job (and `serve`'s, on an empty database or a SQLite file), never a side effect of looking at a
    thread. A schema newer by an expand is fine, as it is for `serve`.
    """
    if db.sqlite_file_missing:
        raise StorageConfigError(
            f"no Signoff database at {db.safe_url}: check SIGNOFF_DATABASE_URL (and the directory you run in), "
            "or create it with `signoff db upgrade`"
        )
    problem = inspect(db).problem(db.safe_url)
    if problem:
        raise StorageConfigError(problem)


class SchemaState(StrEnum):
    """How a database's schema stands to the migrations this code knows."""

    CURRENT = "current"  # at this code's head
    EMPTY = "empty"  # no Signoff schema yet: a first start
    BEHIND = "behind"  # an older revision: run `signoff db upgrade`
    AHEAD = "ahead"  # newer, by migrations that keep this code working (an expand)
    TOO_NEW = "too_new"  # newer, and this code may not run on it (a contract, or a revision unknown here)


@dataclass(frozen=True)
class Schema:
    state: SchemaState
    revision: str | None
    head: str
    oldest_compatible: str | None = None

    @property
    def usable(self) -> bool:
        """Whether this code may serve on the database as it is."""
        return self.state in (SchemaState.CURRENT, SchemaState.AHEAD)

    def problem(self, where: str) -> str | None:
        """One line that says what is wrong and what to run, or None when this code may serve."""
        if self.state is SchemaState.EMPTY:
            return f"no Signoff schema in the database at {where}: run `signoff db upgrade`"
        if self.state is SchemaState.BEHIND:
            return (
                f"the database at {where} is at schema revision {self.revision}, older than this Signoff's "
                f"{self.head}: run `signoff db upgrade` (with this release), then start it again"
            )
        if self.state is SchemaState.TOO_NEW:
            needs = f" and needs at least {self.oldest_compatible}" if self.oldest_compatible else ""
            return (
                f"the database at {where} is at schema revision {self.revision}, newer than this Signoff knows "
                f"(its newest is {self.head}){needs}: run the Signoff release that migrated it, or a newer one"
            )
        return None


@functools.cache
def _known_revisions() -> frozenset[str]:
    return frozenset(script.revision for script in _scripts().walk_revisions())


def inspect(db: Database) -> Schema:
    """Where the database's schema stands; raises DatabaseUnavailable when it cannot be reached."""
    head = head_revision()
    assert head is not None
    try:
        with db.engine.connect() as connection:
            current = MigrationContext.configure(connection).get_current_revision()
            oldest = None
            if current is not None and current != head and current not in _known_revisions():
                if sql_inspect(connection).has_table("schema_compat"):
                    oldest = connection.execute(text("SELECT oldest_compatible FROM schema_compat")).scalar()
    except OperationalError as exc:
        raise DatabaseUnavailable(_first_line(exc)) from exc
    if current == head:
        return Schema(SchemaState.CURRENT, current, head)
    if current is None:
        return Schema(SchemaState.EMPTY, None, head)
    if current in _known_revisions():
        return Schema(SchemaState.BEHIND, current, head)
    if oldest is not None and oldest in _known_revisions():
        return Schema(SchemaState.AHEAD, current, head, oldest)
    return Schema(SchemaState.TOO_NEW, current, head, oldest)


def prepare_for_serving(db: Database) -> Schema:
    """What `serve` does at start: create the schema in an empty database, upgrade an older one on
    SQLite only, and refuse (SchemaMismatch, one line naming the fix) what it may not serve on.

    SQLite is the embedded, one-process case: nothing else runs on the file while this process
    starts, so upgrading it at start keeps the quickstart one command. On PostgreSQL replicas of the
    previous release may be running: an upgrade is the operator's step (`signoff db upgrade`, run
    once, before the new release's replicas start), never a side effect of one replica starting.
    """
    schema = inspect(db)
    if schema.state is SchemaState.EMPTY or (schema.state is SchemaState.BEHIND and db.is_sqlite):
        upgrade(db)
        return inspect(db)
    problem = schema.problem(db.safe_url)
    if problem:
        raise SchemaMismatch(problem)
    if schema.state is SchemaState.AHEAD:
        log.info(
            "the database's schema is at revision %s, newer than this release's %s; it keeps %s and "
            "later working (an expand), so this replica serves. Replace it with the newer release soon.",
            schema.revision,
            schema.head,
            schema.oldest_compatible,
        )
    return schema


def downgrade(db: Database, revision: str) -> None:
    """For tests and a rollback by hand: step the schema back (`"-1"`, or a revision)."""
    config = _config(db)
    with db.engine.begin() as connection:
        if not db.is_sqlite:
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
        config.attributes["connection"] = connection
        command.downgrade(config, revision)
        _record_compatibility(connection)
