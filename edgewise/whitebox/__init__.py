"""Shared machinery of the white-box operators (qat, prune, distill): training schedules,
quantization backends, structured pruning, teacher-logit caching, and the figures they record."""
