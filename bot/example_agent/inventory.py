"""The example agent's service inventory, kept in Signoff's database.

Effects are keyed by the tool call id: a call re-run after a crash returns the first run's result
instead of restarting or deploying a second time.
"""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from bot import failpoints
from bot.example_agent.models import ServiceActionRow, ServiceRow
from storage.db import Database
from storage.models import utcnow

SEED = {"payments": "1.4.2", "search": "2.0.1", "web": "3.7.0"}


class UnknownService(ValueError):
    pass


class Inventory:
    def __init__(self, db: Database) -> None:
        self.db = db

    def seed(self) -> None:
        with self.db.write() as session:
            for name, version in SEED.items():
                if session.get(ServiceRow, name) is None:
                    try:  # another replica may seed at the same moment
                        with session.begin_nested():
                            session.add(ServiceRow(name=name, version=version, updated_at=utcnow()))
                    except IntegrityError:
                        pass

    def services(self) -> list[ServiceRow]:
        self.seed()
        with self.db.session() as session:
            return list(session.exec(select(ServiceRow).order_by(col(ServiceRow.name))))

    def get(self, name: str) -> ServiceRow:
        self.seed()
        with self.db.session() as session:
            row = session.get(ServiceRow, name)
        if row is None:
            known = ", ".join(s.name for s in self.services())
            raise UnknownService(f"no service named {name!r}; known services: {known}")
        return row

    def actions(self) -> list[ServiceActionRow]:
        with self.db.session() as session:
            return list(session.exec(select(ServiceActionRow).order_by(col(ServiceActionRow.at))))

    def act(
        self, *, call_id: str, thread_id: str, service: str, action: str, approved_by: str | None, version: str = ""
    ) -> str:
        self.get(service)
        try:
            result = self._act(call_id, thread_id, service, action, approved_by, version)
        except IntegrityError:
            # The same call ran at the same time elsewhere (a replica whose lease lapsed) and
            # committed first: its effect stands, ours was rolled back.
            with self.db.session() as session:
                done = session.get(ServiceActionRow, call_id)
            if done is None:
                raise
            return done.result
        failpoints.hit("during_tool")  # the effect is committed; its result is not recorded yet
        return result

    def _act(
        self, call_id: str, thread_id: str, service: str, action: str, approved_by: str | None, version: str
    ) -> str:
        with self.db.write() as session:
            done = session.get(ServiceActionRow, call_id)
            if done is not None:
                return done.result
            # Locked: replicas restarting the same service must not lose each other's count.
            row = session.exec(select(ServiceRow).where(ServiceRow.name == service).with_for_update()).one()
            if action == "restart":
                row.restarts += 1
                row.state = "running"
                result = f"{service} restarted (restart #{row.restarts}); it is running version {row.version}"
            else:
                previous, row.version = row.version, version
                result = f"{service} deployed: {previous} -> {version}"
            row.updated_at = utcnow()
            session.add(row)
            session.add(
                ServiceActionRow(
                    call_id=call_id,
                    service=service,
                    action=action,
                    detail=version,
                    approved_by=approved_by,
                    thread_id=thread_id,
                    result=result,
                    at=utcnow(),
                )
            )
            return result
