"""Datasets, splits, and the preprocessing that runs on the serving tier."""
