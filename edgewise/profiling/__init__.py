"""Why a model is as fast and as large as it is: ONNX Runtime's per-operator profile of an artifact
(`profile_onnx`) and the memory a tier needs to serve it (`serving_memory`), both per ONNX part."""

from edgewise.profiling.memory import PartMemory, ServingMemory, serving_memory
from edgewise.profiling.ort import NodeTime, OperatorProfile, PartProfile, profile_onnx

__all__ = ["NodeTime", "OperatorProfile", "PartMemory", "PartProfile", "ServingMemory", "profile_onnx",
           "serving_memory"]
