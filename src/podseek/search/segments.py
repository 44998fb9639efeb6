"""Segment search: the windows of the catalog's transcripts, searched beside the episodes.

A listener remembers what was said, and an episode's title and description rarely say it.
The segment index holds the transcripts' two-minute windows (:mod:`podseek.catalog.windows`),
encoded by the index's model; a search ranks them with the same query vector, mode and
filters as the episodes. A window's score becomes its episode's (its best window's, by
default), and that list is fused with the episodes' own list, so a matching moment lifts the
episode it is part of, and an episode with no transcript still ranks by its own text. Each
result then carries its best moments: where to start the player, what is said there, and who
says it. How the scores combine was measured on the Talk Python moments set
(docs/search.md, "Moments in transcripts").
"""

import threading
from collections import OrderedDict
from collections.abc import Sequence
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel

from podseek.catalog.store import catalog_revision, read_transcripts
from podseek.catalog.transcripts import Segment
from podseek.catalog.windows import STEP_S, WINDOW_S, Span, best_span, parse_window_id
from podseek.index.base import Hit, SearchFilters
from podseek.search.fusion import convex_combination

if TYPE_CHECKING:
    from podseek.config import Settings
    from podseek.search.engine import Searcher, SearchMode

# the weight of the episodes' own list against their windows' (1: windows ignored)
SEGMENT_ALPHA = 0.2
SEGMENT_DEPTH = 200  # windows each query ranks: several per episode
MOMENTS = 3  # moments a result shows at most
_CACHED_TRANSCRIPTS = 256


class Aggregation(StrEnum):
    """How an episode's window scores become one: its best window's (``max``), or the
    decayed sum of its best three (``decayed``: s1 + s2/2 + s3/4, the show search's rule)."""

    MAX = "max"
    DECAYED = "decayed"


class Placement(StrEnum):
    """Where a moment starts in its window: where the query's words are said, else in the
    half of the window that its neighbours also match (``overlap``, the default); where the
    words are, else at the window's start (``words``); at the window's start (``window``).
    ``benchmarks/moments_quality.py`` compares them."""

    OVERLAP = "overlap"
    WORDS = "words"
    WINDOW = "window"


class Moment(BaseModel):
    """A place in an episode that matches the query: seconds from its start, what is said
    there and by whom (``""`` when the transcript does not say)."""

    start: float
    end: float
    text: str
    speaker: str = ""
    score: float


def episode_scores(
    windows: Sequence[Hit], how: Aggregation
) -> tuple[list[Hit], dict[str, list[Hit]]]:
    """The episodes of a ranked window list, scored by ``how``, best first, and each
    episode's windows ``(window id, score)``, best first."""
    grouped: dict[str, list[Hit]] = {}
    for window, score in windows:
        grouped.setdefault(parse_window_id(window)[0], []).append((window, score))
    scored = []
    for episode_id, hits in grouped.items():
        hits.sort(key=lambda hit: -hit[1])
        if how is Aggregation.MAX:
            scored.append((episode_id, hits[0][1]))
        else:
            scored.append((episode_id, sum(s / 2**i for i, (_, s) in enumerate(hits[:3]))))
    scored.sort(key=lambda hit: -hit[1])
    return scored, grouped


class SegmentSearch:
    """Ranks the windows of the segment index and lifts the episodes they belong to.

    Args:
        searcher: a searcher over the segment index, sharing the episode searcher's query
            vector cache (the same model encodes both).
        catalog: the catalog the moments' cues are read from.
        alpha: the weight of the episodes' own list (0: windows only; 1: episodes only).
        how: how an episode's window scores combine.
        depth: windows each query ranks.
        placement: where in its window a moment starts.
    """

    def __init__(
        self,
        searcher: "Searcher",
        catalog: Path,
        alpha: float = SEGMENT_ALPHA,
        how: Aggregation = Aggregation.MAX,
        depth: int = SEGMENT_DEPTH,
        placement: Placement = Placement.OVERLAP,
    ) -> None:
        self.searcher = searcher
        self.catalog = Path(catalog)
        self.alpha = alpha
        self.how = Aggregation(how)
        self.depth = depth
        self.placement = Placement(placement)
        self._transcripts: OrderedDict[str, list[Segment]] = OrderedDict()
        self._revision: int | None = None
        self._lock = threading.Lock()

    def lift(
        self,
        queries: Sequence[str],
        lists: Sequence[list[Hit]],
        mode: "SearchMode",
        filters: SearchFilters | None,
    ) -> tuple[list[list[Hit]], list[dict[str, list[Hit]]]]:
        """Each query's episode list fused with the episodes its windows score, and each
        query's ``{episode id: its windows, best first}``."""
        ranked = self.searcher.rank(queries, self.depth, mode, filters)
        fused, found = [], []
        for episodes, windows in zip(lists, ranked, strict=True):
            scored, grouped = episode_scores(windows, self.how)
            fused.append(convex_combination(episodes, scored, self.alpha))
            found.append(grouped)
        return fused, found

    def moments(self, query: str, windows: dict[str, list[Hit]]) -> dict[str, list[Moment]]:
        """The best moments of each episode of ``windows`` (up to :data:`MOMENTS`, from
        windows that do not overlap): the span of each window that the query is about."""
        transcripts = self._read(list(windows))
        found: dict[str, list[Moment]] = {}
        for episode_id, hits in windows.items():
            segments = transcripts.get(episode_id)
            if not segments:
                continue  # transcript gone since the index was built
            starts: list[float] = []
            for window, score in hits:
                start = parse_window_id(window)[1]
                if any(abs(start - s) < WINDOW_S for s in starts):
                    continue
                starts.append(start)
                span = self._span(segments, start, hits, query)
                found.setdefault(episode_id, []).append(
                    Moment(
                        start=round(span.start, 3),
                        end=round(span.end, 3),
                        text=span.text,
                        speaker=span.speaker,
                        score=round(score, 6),
                    )
                )
                if len(starts) == MOMENTS:
                    break
        return found

    def _span(self, segments: list[Segment], start: float, hits: list[Hit], query: str) -> Span:
        """The moment of the window at ``start``, placed as :attr:`placement` says. Windows
        overlap by half: when the query shares no word with the window, the half that the
        better of its neighbours (among the episode's ranked ``hits``) also covers is where
        it most likely is."""
        if self.placement is Placement.WINDOW:
            return best_span(segments, start, start + WINDOW_S, "")
        otherwise = None
        if self.placement is Placement.OVERLAP:
            scores = [(parse_window_id(w)[1] - start, s) for w, s in hits]
            later = max((s for d, s in scores if 0 < d < WINDOW_S), default=0.0)
            earlier = max((s for d, s in scores if -WINDOW_S < d < 0), default=0.0)
            otherwise = start + STEP_S if later > earlier else None
        return best_span(segments, start, start + WINDOW_S, query, otherwise)

    def _read(self, episode_ids: list[str]) -> dict[str, list[Segment]]:
        """Transcripts of ``episode_ids``, from a small cache that a catalog write empties."""
        revision = catalog_revision(self.catalog)
        with self._lock:
            if revision != self._revision:
                self._transcripts.clear()
                self._revision = revision
            found = {i: self._transcripts[i] for i in episode_ids if i in self._transcripts}
        missing = [i for i in episode_ids if i not in found]
        fresh = read_transcripts(self.catalog, missing)
        with self._lock:
            for episode_id, segments in fresh.items():
                self._transcripts[episode_id] = segments
            while len(self._transcripts) > _CACHED_TRANSCRIPTS:
                self._transcripts.popitem(last=False)
        return {**found, **fresh}


def segment_search(settings: "Settings", searcher: "Searcher") -> SegmentSearch | None:
    """Segment search beside ``searcher`` (over the workspace's index): over the segment
    index with the same encoder and query vectors; ``None`` when there is no segment index
    or segments are off. :class:`~podseek.errors.Unavailable` when it does not fit the index
    (:func:`~podseek.index.episode_index.open_segment_index`)."""
    from podseek.index.episode_index import open_segment_index
    from podseek.search.engine import Searcher

    index = open_segment_index(settings, searcher.index.manifest)
    if index is None:
        return None
    windows = Searcher(
        index,
        searcher.query_vectors.encoder,
        searcher.depth,
        searcher.fusion,
        query_vectors=searcher.query_vectors,
    )
    return SegmentSearch(windows, settings.catalog_path)
