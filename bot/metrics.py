"""Prometheus metrics, served at /metrics.

Under the supervisor every process counts into files in PROMETHEUS_MULTIPROC_DIR (set for its
children only), and the ingress's /metrics adds them up (prometheus_client's multiprocess mode):
the workers' steps, model calls and deliveries show beside the ingress's acks. The gauges
(threads by status, the queues' depths) are read from the database when /metrics is asked.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, ProcessCollector, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from agent.events import Event
from agent.io.model import ModelClient
from agent.reducer import ModelOutput, Step


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
        queues = GaugeMetricFamily(
            "signoff_queue_depth", "Work waiting: threads to step or on people, messages to send", labels=["queue"]
        )
        queues.add_metric(["runnable"], counts.get("running", 0))
        queues.add_metric(["waiting"], counts.get("waiting", 0))
        queues.add_metric(["outbox"], counts.get("outbox", 0))
        yield queues


# Latency buckets from a millisecond (an ack) to two minutes (a slow model call or tool).
SECONDS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


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
        self.ack_seconds = Histogram(
            "signoff_slack_ack_seconds", "Time to answer a Slack request", buckets=SECONDS, registry=self.registry
        )
        self.step_seconds = Histogram(
            "signoff_step_seconds",
            "Time an agent step took, by kind",
            ["kind"],
            buckets=SECONDS,
            registry=self.registry,
        )
        self.model_call_seconds = Histogram(
            "signoff_model_call_seconds",
            "Time a model call took, retries included",
            buckets=SECONDS,
            registry=self.registry,
        )
        self.outbox_lag_seconds = Histogram(
            "signoff_outbox_lag_seconds",
            "Time from a message's commit to its delivery",
            ["channel"],
            buckets=SECONDS,
            registry=self.registry,
        )
        self._multiprocess_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
        self._exposed = self.registry
        if self._multiprocess_dir:
            self._exposed = CollectorRegistry()
            MultiProcessCollector(self._exposed, path=self._multiprocess_dir)  # type: ignore[no-untyped-call]
        ProcessCollector(registry=self._exposed)

    def track_status(self, counts: Callable[[], dict[str, int]]) -> None:
        self._exposed.register(_StatusCollector(counts))

    def step(self, step: Step) -> None:
        self.steps.labels(kind=type(step).__name__).inc()

    def events(self, events: Sequence[Event]) -> None:
        for event in events:
            self.events_appended.labels(type=event.type).inc()

    def render(self) -> bytes:
        return generate_latest(self._exposed)


class TimedModel:
    """A model client whose calls are timed into `signoff_model_call_seconds`."""

    def __init__(self, model: ModelClient, histogram: Histogram) -> None:
        self.model = model
        self.histogram = histogram

    async def complete(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> ModelOutput:
        with self.histogram.time():
            return await self.model.complete(messages, tools)

    async def warm(self) -> None:
        warm = getattr(self.model, "warm", None)
        if warm is not None:
            await warm()


class TimeSlackAcks:
    """ASGI middleware: how long each request to /slack/events took to answer, into `signoff_slack_ack_seconds`."""

    def __init__(self, app: Any, histogram: Histogram, path: str = "/slack/events") -> None:
        self.app = app
        self.histogram = histogram
        self.path = path

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] != self.path:
            await self.app(scope, receive, send)
            return
        began = time.perf_counter()
        try:
            await self.app(scope, receive, send)
        finally:
            self.histogram.observe(time.perf_counter() - began)
