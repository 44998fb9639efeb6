"""podseek: natural-language search for podcast episodes, learned from a catalog with no labels."""

__version__ = "0.1.0"
