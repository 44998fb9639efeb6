"""Readers, one module per source format. Each yields ``RawEpisode`` values or ``Skip``s."""

from collections.abc import Iterator
from typing import Protocol

from podseek.catalog.build import RawEpisode, Skip


class Source(Protocol):
    """What the ingest runner needs from a reader."""

    name: str  # the source name records are filed under ("listennotes", "rss:my-show")
    kind: str  # the reader ("listennotes", "rss", "table")
    location: str  # where the data came from, for the ingest log

    def total(self) -> int | None:
        """How many rows to expect, for the progress bar; ``None`` when unknown."""
        ...

    def records(self) -> Iterator[RawEpisode | Skip]:
        """Every row or item, as raw values or as a reason to skip it."""
        ...
