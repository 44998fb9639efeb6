"""What every search backend stores and answers: the rows, the filters, the interface.

A backend stores one row per catalog record: its vector, the text that was encoded (for
keyword search and snippets), the fields that results show and filters test, and the
catalog's content hash, so that an incremental ``podseek index`` can tell what changed.
"""

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol, TypeVar

import numpy as np

from podseek.catalog.episode import Episode

Hit = tuple[str, float]  # (episode id, score: higher is better)


T = TypeVar("T")


def chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    """``items`` in consecutive slices of at most ``size``: one request or commit each."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def micros(moment: datetime) -> int:
    """Microseconds since the epoch, as both backends store dates; a naive time is UTC."""
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1_000_000)


def from_micros(micros_since_epoch: int | None) -> datetime | None:
    """A stored date as a UTC datetime; one Python cannot represent (written before the
    catalog checked dates) reads as no date instead of failing the search that found it."""
    if micros_since_epoch is None:
        return None
    try:
        return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=micros_since_epoch)
    except OverflowError:
        return None


# The fields a backend keeps beside the vector, for results and filters.
DISPLAY_FIELDS = (
    "id",
    "show_id",
    "show_title",
    "episode_title",
    "text",
    "language",
    "categories",
    "published_at",
    "duration_s",
    "audio_url",
    "episode_url",
)


class Metric(StrEnum):
    """Similarity of normalised vectors; backends derive their own metric names from it."""

    COSINE = "cosine"


@dataclass(frozen=True)
class SearchFilters:
    """Restrictions on which episodes a search may return; ``None`` means "any".

    Categories match case-insensitively; dates are UTC; durations are seconds, inclusive.
    """

    language: str | None = None
    show_id: str | None = None
    category: str | None = None
    after: datetime | None = None
    before: datetime | None = None
    min_duration: int | None = None
    max_duration: int | None = None

    def is_empty(self) -> bool:
        return all(value is None for value in vars(self).values())


@dataclass(frozen=True)
class IndexRow:
    """One record as a backend stores it."""

    episode: Episode
    text: str
    content_hash: str
    vector: np.ndarray

    def fields(self) -> dict[str, Any]:
        """The display and filter fields, as plain values."""
        e = self.episode
        return {
            "id": e.id,
            "show_id": e.show_id,
            "show_title": e.show_title,
            "episode_title": e.episode_title,
            "text": self.text,
            "language": e.language,
            "categories": [c.lower() for c in e.categories],
            "published_at": e.published_at,
            "duration_s": e.duration_s,
            "audio_url": e.audio_url,
            "episode_url": e.episode_url,
        }


class SearchBackend(Protocol):
    """An index of episode vectors with keyword search beside it.

    ``vector_search`` and ``keyword_search`` take a batch of queries and return one ranked
    list of ``(id, score)`` per query: the single-query case is a batch of one.
    """

    dimension: int

    def upsert(self, rows: Sequence[IndexRow]) -> None:
        """Insert rows, replacing any with the same id."""
        ...

    def delete(self, ids: Iterable[str]) -> None: ...

    def vector_search(
        self, vectors: np.ndarray, limit: int, filters: SearchFilters | None = None
    ) -> list[list[Hit]]:
        """Nearest episodes by cosine similarity (score = cosine), filtered before ranking."""
        ...

    def keyword_search(
        self, queries: Sequence[str], limit: int, filters: SearchFilters | None = None
    ) -> list[list[Hit]]:
        """Best episodes by BM25 over the episode text, filtered before ranking."""
        ...

    def count(self) -> int: ...

    def content_hashes(self) -> dict[str, str]:
        """``{id: content_hash}`` of every stored row."""
        ...

    def fetch(self, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Display fields (:data:`DISPLAY_FIELDS`) of the given ids."""
        ...

    def vectors(self, ids: Sequence[str]) -> np.ndarray:
        """The stored vectors of ``ids``, in order (for evaluation and exact baselines)."""
        ...

    def optimize(self) -> dict[str, Any]:
        """(Re)build the ANN, scalar and full-text indexes; returns what it built."""
        ...

    def close(self) -> None: ...
