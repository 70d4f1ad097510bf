"""Operations endpoints: `/healthz`, `/readyz`, `/metrics`. No token, no faults, not counted in `/_sim/stats`.

The metrics are read from the simulator's counters when scraped, into a registry of this app alone.
"""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from magento_sim.core import Simulator

SERVICE = "magento-sim"


class SimulatorCollector(Collector):
    def __init__(self, sim: Simulator) -> None:
        self.sim = sim

    def collect(self) -> Iterator[Metric]:
        sim = self.sim
        calls = CounterMetricFamily("magento_sim_rest_calls", "REST calls answered, by operation and status code",
                                    labels=["operation", "status"])
        for operation, counts in sorted(sim.calls.items()):
            for status, n in sorted(counts.items()):
                if status != "calls":
                    calls.add_metric([operation, status], n)
        yield calls
        faults = CounterMetricFamily("magento_sim_faults_injected", "Faults injected, by kind", labels=["kind"])
        for kind, n in sorted(sim.fault_counts.items()):
            faults.add_metric([kind], n)
        yield faults
        webhooks = CounterMetricFamily("magento_sim_webhooks", "Product-change webhooks, by outcome",
                                       labels=["outcome"])
        for outcome, n in sorted(sim.webhooks.counts.items()):
            webhooks.add_metric([outcome], n)
        yield webhooks
        yield GaugeMetricFamily("magento_sim_products", "Products in the catalogue", value=len(sim.catalog))


def register(app: FastAPI, sim: Simulator) -> None:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SimulatorCollector(sim))

    @app.get("/healthz", tags=["operations"])
    async def healthz() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok", "service": SERVICE}

    @app.get("/readyz", tags=["operations"])
    async def readyz() -> JSONResponse:
        """Readiness: the app's lifespan has started (the catalogue is loaded before that)."""
        ready = bool(getattr(app.state, "started", False))
        return JSONResponse({"ready": ready, "service": SERVICE, "checks": {"started": ready}},
                            200 if ready else 503)

    @app.get("/metrics", tags=["operations"])
    async def metrics() -> Response:
        """Prometheus text exposition of the simulator's counters."""
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
