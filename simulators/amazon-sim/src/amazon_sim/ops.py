"""Operations endpoints: `/healthz`, `/readyz`, `/metrics`. They are not SP-API operations: no token,
no rate limit, no injected faults, not counted in `/_sim/stats`.

The metrics are read from the simulator's own counters when scraped, into a registry of this app alone
(several simulators in one process do not clash).
"""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from amazon_sim.core import Simulator

SERVICE = "amazon-sim"


class SimulatorCollector(Collector):
    def __init__(self, sim: Simulator) -> None:
        self.sim = sim

    def collect(self) -> Iterator[Metric]:
        sim = self.sim
        calls = CounterMetricFamily("amazon_sim_sp_api_calls", "SP-API calls answered, by operation and status code",
                                    labels=["operation", "status"])
        for operation, counts in sorted(sim.calls.items()):
            for status, n in sorted(counts.items()):
                if status != "calls":
                    calls.add_metric([operation, status], n)
        yield calls
        yield CounterMetricFamily("amazon_sim_sp_api_throttled", "SP-API calls answered 429 QuotaExceeded",
                                  value=sim.throttled)
        faults = CounterMetricFamily("amazon_sim_faults_injected", "Faults injected, by kind", labels=["kind"])
        for kind, n in sorted(sim.fault_counts.items()):
            faults.add_metric([kind], n)
        yield faults

        hub = sim.notifications
        published = CounterMetricFamily("amazon_sim_notifications_published", "Notifications published, by type",
                                        labels=["type"])
        failures = CounterMetricFamily("amazon_sim_notification_delivery_failures",
                                       "Failed delivery attempts, by destination (push, sqs) and reason",
                                       labels=["destination", "reason"])
        for key, n in sorted(hub.counts.items()):
            if key.startswith("published:"):
                published.add_metric([key.removeprefix("published:")], n)
            elif "_failed:" in key:
                destination, reason = key.split("_failed:", 1)
                failures.add_metric([destination, reason], n)
        yield published
        yield failures
        yield CounterMetricFamily("amazon_sim_notifications_delivered", "Notifications delivered",
                                  value=hub.counts["delivered"])
        yield CounterMetricFamily("amazon_sim_notifications_dropped",
                                  "Notifications given up after their last failed attempt", value=hub.counts["dropped"])
        yield GaugeMetricFamily("amazon_sim_notifications_pending", "Notifications waiting for delivery",
                                value=len(hub.pending))


def register(app: FastAPI, sim: Simulator) -> None:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SimulatorCollector(sim))

    @app.get("/healthz", tags=["operations"])
    async def healthz() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok", "service": SERVICE}

    @app.get("/readyz", tags=["operations"])
    async def readyz() -> JSONResponse:
        """Readiness: the app's lifespan has started (and its background tasks run, when it has them)."""
        checks = {"started": bool(getattr(app.state, "started", False))}
        tasks = getattr(app.state, "background_tasks", None)
        if tasks:
            checks["background"] = all(not task.done() for task in tasks)
        ready = all(checks.values())
        return JSONResponse({"ready": ready, "service": SERVICE, "checks": checks}, 200 if ready else 503)

    @app.get("/metrics", tags=["operations"])
    async def metrics() -> Response:
        """Prometheus text exposition of the simulator's counters."""
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
