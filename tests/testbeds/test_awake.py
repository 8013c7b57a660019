"""Holding the host's cores awake through the kernel's PM QoS request (root: /dev/cpu_dma_latency)."""

from __future__ import annotations

import struct

import pytest

from edgewise.testbeds.awake import PM_QOS, AwakeCores
from tests.conftest import needs_root
from tests.testbeds.idle import halting_states, halts_during


def _latency_target() -> int:
    """The kernel's current CPU wake-up latency target, over every request held (microseconds)."""
    with open(PM_QOS, "rb") as fh:
        return struct.unpack("i", fh.read(4))[0]


@needs_root
def test_held_cores_never_halt_and_are_given_back():
    if not PM_QOS.exists():
        pytest.skip(f"this kernel has no {PM_QOS}")
    before = _latency_target()
    with AwakeCores() as awake:
        assert awake.held and awake.reason is None
        assert _latency_target() == 0
        if halting_states():
            assert halts_during(0.3) == 0
        assert "held awake" in awake.describe()
    assert not awake.held
    assert _latency_target() == before
    awake.release()  # twice is harmless


def test_cores_that_cannot_be_held_say_why(tmp_path):
    awake = AwakeCores(tmp_path / "no-such-device")
    assert not awake.held
    assert "no-such-device" in awake.reason and "could not be held awake" in awake.describe()
    awake.release()
