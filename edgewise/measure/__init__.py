"""Measurement: accuracy of every artifact and client-side latency of every cell."""
