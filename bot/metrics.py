"""Prometheus metrics, served at /metrics."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from agent.events import Event
from agent.reducer import Step


class _StatusCollector(Collector):
    def __init__(self, counts: Callable[[], dict[str, int]]) -> None:
        self._counts = counts

    def collect(self):  # type: ignore[no-untyped-def]
        family = GaugeMetricFamily("signoff_threads", "Threads by status", labels=["status"])
        try:
            counts = self._counts()
        except Exception:
            counts = {}
        for status in ("running", "waiting", "done", "failed"):
            family.add_metric([status], counts.get(status, 0))
        yield family


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.steps = Counter("signoff_steps", "Agent steps taken", ["kind"], registry=self.registry)
        self.events_appended = Counter("signoff_events", "Events appended by workers", ["type"], registry=self.registry)
        self.http_requests = Counter(
            "signoff_api_requests", "API requests", ["route", "status"], registry=self.registry
        )
        self.deliveries = Counter(
            "signoff_deliveries", "Outbound deliveries", ["channel", "outcome"], registry=self.registry
        )
        self.email_quarantined = Counter(
            "signoff_email_quarantined", "Inbound mail that could not be parsed, quarantined", registry=self.registry
        )

    def track_status(self, counts: Callable[[], dict[str, int]]) -> None:
        self.registry.register(_StatusCollector(counts))

    def step(self, step: Step) -> None:
        self.steps.labels(kind=type(step).__name__).inc()

    def events(self, events: Sequence[Event]) -> None:
        for event in events:
            self.events_appended.labels(type=event.type).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
