"""SP-API simulator: answers SP-API paths with SP-API JSON shapes, backed by in-memory state."""

from amazon_sim.app import create_app
from amazon_sim.config import Account, SimConfig

__all__ = ["Account", "SimConfig", "create_app"]
