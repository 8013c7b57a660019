"""Executors: where a study's builds and latency measurements run.

`local` is this host (missing teachers and build steps in local lanes, the testbed driven from here); `ray` hands
them to a Ray cluster (edgewise/executors/ray.py), whose Ray library is imported only when a study asks for it.
Which one a study gets: executors/choice.py; the seam: executors/base.py. This package's own namespace holds
only the configuration, since edgewise.config imports it.
"""

from __future__ import annotations

from edgewise.executors.config import ClusterTestbed, ExecutorConfig

__all__ = ["ClusterTestbed", "ExecutorConfig"]
