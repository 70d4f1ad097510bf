"""commerce-gateway: runs on the shared runtime (health, readiness, metrics, outbox relay).

Its domain handlers are not built yet; see the project's open issues.
"""

from __future__ import annotations

from servicekit import Service, ServiceSettings

SERVICE = "commerce-gateway"


class Settings(ServiceSettings):
    http_port: int = 8106


def build(settings: Settings | None = None) -> Service[Settings]:
    return Service(SERVICE, settings or Settings())
