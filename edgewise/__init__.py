"""edgewise: measure what deployment operators really do on Mobile, Edge and Cloud tiers."""

__version__ = "0.1.0"
