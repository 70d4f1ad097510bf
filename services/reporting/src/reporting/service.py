"""reporting: read models over the platform's events, served over HTTP."""

from __future__ import annotations

from importlib import resources

from contracts import topics
from reporting.api import router
from reporting.handlers import SERVICE, on_listings_changed
from servicekit import Service, ServiceSettings


class ReportingSettings(ServiceSettings):
    http_port: int = 8104


def build(settings: ReportingSettings | None = None) -> Service[ReportingSettings]:
    service = Service(SERVICE, settings or ReportingSettings(),
                      migrations=resources.files("reporting") / "migrations")
    service.subscribe(topics.LISTINGS, on_listings_changed)
    service.include_router(router(service))
    return service
