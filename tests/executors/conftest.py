"""A real local Ray cluster (no local mode), started once for these tests, small object store.

Two custom resources, host-a and host-b, stand for two hosts that each hold a testbed. The
cluster requires a token, as Ray clusters do by default from 2.59 on; a second driver started by a
test reaches it with the same RAY_AUTH_TOKEN in its environment. Ray reads the mode when it is
imported, so it is set here, before any test module imports ray.
"""

from __future__ import annotations

import os
import secrets

import pytest

from tests.tiers.conftest import cnn_artifact, cnn_split  # noqa: F401  (shared artifact fixtures)

if "RAY_AUTH_TOKEN" not in os.environ:
    os.environ.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=secrets.token_hex(16))


@pytest.fixture(scope="session")
def ray_cluster():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, resources={"host-a": 1, "host-b": 1}, object_store_memory=100 * 2**20,
             include_dashboard=False, log_to_driver=False, logging_level="WARNING")
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()
