"""Tiers, links and placements: what runs where, and what joins the places."""

from edgewise.tiers.spec import TIER_ORDER, LinkSpec, Placement, TierSpec

__all__ = ["TIER_ORDER", "LinkSpec", "Placement", "TierSpec"]
