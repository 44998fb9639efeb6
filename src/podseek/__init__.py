"""podseek: natural-language search for podcast episodes, learned from a catalog with no labels.

podseek never downloads a model: weights come from installed packages or a folder the user
names. Hugging Face libraries read these switches when they are first imported, so they are
set here, in the package's entry, before any podseek module can import one of them.
"""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

__version__ = "0.1.0"
