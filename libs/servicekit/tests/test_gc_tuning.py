"""The service's garbage collector settings: young collections less often, startup's objects
left out of later collections, Python's defaults kept on request."""

from __future__ import annotations

import gc

import pytest

from servicekit.app import tune_gc
from servicekit.settings import ServiceSettings


@pytest.fixture
def restored_gc():
    before = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*before)


def test_young_collections_are_rarer_and_startup_objects_frozen(restored_gc) -> None:
    gc.unfreeze()
    _, gen1, gen2 = gc.get_threshold()
    tune_gc(ServiceSettings().gc_gen0_threshold)
    assert gc.get_threshold() == (200_000, gen1, gen2)
    assert gc.get_freeze_count() > 0


def test_zero_keeps_the_defaults(restored_gc, monkeypatch) -> None:
    gc.unfreeze()
    before = gc.get_threshold()
    monkeypatch.setenv("GC_GEN0_THRESHOLD", "0")
    tune_gc(ServiceSettings().gc_gen0_threshold)
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
