"""What every search backend stores and answers: the rows, the filters, the vector index
settings, the interface.

A backend stores one row per catalog record: its vector, the text that was encoded (for
keyword search and snippets), the fields that results show and filters test, and the
catalog's content hash, so that an incremental ``podseek index`` can tell what changed.
"""

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import numpy as np

from podseek.catalog.episode import Episode

if TYPE_CHECKING:
    from podseek.config import Settings

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
class AnnSettings:
    """How vector search is indexed and queried (tuned in ``benchmarks/index_latency.py``)."""

    min_rows: int = 50_000  # below this, exact search
    # LanceDB recommends few IVF partitions for HNSW (each is one graph); its default,
    # sqrt(rows), makes so many small graphs that 20 probes miss much of the true top 10
    # (docs/results.md). One graph per 250k rows keeps memory bounded and lets nprobes
    # visit every partition up to 5M rows.
    rows_per_partition: int = 250_000
    nprobes: int = 20
    refine_factor: int = 10
    # HNSW search breadth: 400 finds nearly all of the exact top 10 with real queries on real
    # episodes, where 100 misses some, for little more time (benchmarks/ann_tuning.py
    # --real; figures in docs/results.md)
    ef: int = 400
    # the refine step reads each candidate's full vector from disk: for hybrid fusion's 100
    # candidates, refine_factor 10 would read 1,000 of them; at most 200 (factor 2 there)
    # takes much less time for about the same recall (docs/results.md), and leaves
    # k <= 20 searches as they were
    max_refined: int = 200
    m: int = 20
    ef_construction: int = 300
    # a LanceDB index is searched through its serving snapshot (index/snapshot.py), which
    # `podseek index` keeps beside the table; off, searches read LanceDB itself
    snapshot: bool = True

    @classmethod
    def from_settings(cls, settings: "Settings") -> "AnnSettings":
        """The tunable part, from podseek's settings (``PODSEEK_ANN_*``)."""
        return cls(
            min_rows=settings.ann_min_rows,
            nprobes=settings.ann_nprobes,
            refine_factor=settings.ann_refine_factor,
            snapshot=settings.snapshot,
        )


@dataclass(frozen=True)
class SearchFilters:
    """Restrictions on which episodes a search may return; ``None`` means "any".

    Categories match case-insensitively; dates are UTC; durations are seconds, inclusive.
    """

    language: str | None = None
    show_id: str | None = None
    not_show_id: str | None = None  # every show but this one ("more like this" elsewhere)
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
    table_name: str  # the index table this backend holds (a Milvus collection's full name)

    @property
    def uses_ann(self) -> bool:
        """Whether vector search goes through an ANN index (else it is exact)."""
        ...

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

    def all_vectors(self) -> tuple[list[str], np.ndarray]:
        """Every id and its vector, in one matrix (for exact baselines and evaluation)."""
        ...

    def optimize(self) -> dict[str, Any]:
        """(Re)build the ANN, scalar and full-text indexes; returns what it built."""
        ...

    def table_names(self) -> list[str]:
        """The tables of this index in the backend: this one and any a rebuild left."""
        ...

    def drop_other_tables(self) -> None:
        """Drop the index's tables but this one (after a rebuild switched to it)."""
        ...

    def size_bytes(self) -> int:
        """Disk the index takes, as far as the backend can tell (0 when it cannot)."""
        ...

    def close(self) -> None: ...
