"""Encoders (packaged weights or any sentence-transformers folder) and query generators.

podseek never downloads a model: weights come from installed packages or a folder the user
names (the offline switches are set in :mod:`podseek`, the package's entry).
"""
