"""Deploying: an artifact's parts on a testbed's tiers."""
