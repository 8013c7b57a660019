"""Graph utilities for black-box operators: where an ONNX graph can be cut, how to split it,
what crosses the cut and what each part costs to run."""

from edgewise.onnxgraph.cuts import Cut, cut_after_prefix, enumerate_cuts, validate_cut
from edgewise.onnxgraph.graph import GraphIndex
from edgewise.onnxgraph.split import split_model, with_int8_wire
from edgewise.onnxgraph.tensors import TensorInfo, observe_tensors
from edgewise.tiers.session_latency import median_latency
from edgewise.tiers.sessions import make_session

__all__ = ["Cut", "GraphIndex", "TensorInfo", "cut_after_prefix", "enumerate_cuts", "make_session",
           "median_latency", "observe_tensors", "split_model", "validate_cut", "with_int8_wire"]
