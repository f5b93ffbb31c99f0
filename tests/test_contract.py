"""Every installed offline task passes the contract: the suite grows with the registry."""

from __future__ import annotations

import pytest

from bench.registry import Registry, missing_data
from bench.testing import check_task

# Every registered task end to end takes minutes: slow tier. Each family keeps a fast end-to-end test.
pytestmark = pytest.mark.slow

SPECS = [s for s in Registry.discover().tasks.values() if not s.needs_network]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.id)
def test_task_contract(spec, tmp_path):
    if missing := missing_data(spec):
        pytest.skip(missing)
    records = check_task(spec, tmp_path)
    assert set(records) == set(spec.methods)
    assert "scratch" in records
