"""The ``podseek`` command line (see :mod:`podseek.cli.common`)."""

from podseek.cli import catalog, evaluate, queries, search, serve, train  # noqa: F401  (each module registers its commands)
from podseek.cli.common import app, main

__all__ = ["app", "main"]
