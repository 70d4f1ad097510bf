"""Adobe Commerce (Magento 2.4.8) admin REST simulator: the catalogue and the store structure, in memory."""

from magento_sim.app import create_app
from magento_sim.config import SimConfig

__all__ = ["SimConfig", "create_app"]
