"""What the example agent did: the rows of its inventory, as a test reads them after the fact."""

from __future__ import annotations

from sqlmodel import select

from bot.example_agent.models import ServiceActionRow
from storage.db import Database


def service_actions(database_url: str) -> list[ServiceActionRow]:
    """Every restart and deploy the example agent's tools ran, in the database at `database_url`."""
    db = Database(database_url)
    try:
        with db.session() as session:
            return list(session.exec(select(ServiceActionRow)))
    finally:
        db.dispose()
