"""Encoders (packaged weights or any sentence-transformers folder) and query generators.

podseek never downloads a model: weights come from installed packages or a folder the user
names. Hugging Face libraries are told so before any of them is imported.
"""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
