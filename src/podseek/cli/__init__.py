"""The ``podseek`` command line (see :mod:`podseek.cli.common`)."""

from podseek.cli import (  # noqa: F401  (each module registers its commands)
    catalog,
    evaluate,
    migrate,
    pipeline,
    queries,
    search,
    serve,
    train,
    transcribe,
)
from podseek.cli.common import app, main

__all__ = ["app", "main"]
