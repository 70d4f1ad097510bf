"""Shared service runtime: nothing domain-specific lives here."""

from servicekit.app import Service
from servicekit.consumer import Tx
from servicekit.settings import ServiceSettings

__all__ = ["Service", "ServiceSettings", "Tx"]
