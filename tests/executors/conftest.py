"""A real local Ray cluster (no local mode), started once for these tests, small object store.

Two custom resources, host-a and host-b, stand for two hosts that each hold a testbed.
"""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def ray_cluster():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, resources={"host-a": 1, "host-b": 1}, object_store_memory=100 * 2**20,
             include_dashboard=False, log_to_driver=False, logging_level="WARNING")
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()
