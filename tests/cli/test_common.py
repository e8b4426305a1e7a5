"""What every command shares: the collector's thresholds while a plan is built."""

from __future__ import annotations

import gc

import pytest

from email_infrastructure.cli.common import BULK_GC_THRESHOLD, bulk_allocation


def test_bulk_allocation_raises_the_thresholds_and_restores_them_even_on_error() -> None:
    before = gc.get_threshold()
    assert before != BULK_GC_THRESHOLD
    with bulk_allocation():
        assert gc.get_threshold() == BULK_GC_THRESHOLD
    assert gc.get_threshold() == before
    with pytest.raises(RuntimeError), bulk_allocation():
        raise RuntimeError("a failed plan")
    assert gc.get_threshold() == before
