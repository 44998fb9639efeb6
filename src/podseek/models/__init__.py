"""Encoders (packaged weights or any sentence-transformers folder) and query generators."""
