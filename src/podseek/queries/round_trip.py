"""The round-trip check: does a query find its own episode in the top ``k`` of the catalog?

It runs against the search index that ``podseek index`` built with the base encoder, so it
asks the same two retrievers the listener would meet: the encoder (semantic search) and BM25
(keyword search). A query passes when either ranks its episode in the top ``k``.

A transcript window's query is checked against the segment index that ``podseek index``
builds beside it (the windows of every transcript, same encoder): it passes when either
retriever ranks its window, or a window of the same episode that shares speech with it, in
the top ``k`` of all windows. Checking it against the episode index instead would ask the
episode's title and description to hold what was said, which is what window queries are for
when they do not.
"""

from collections.abc import Callable

import numpy as np

from podseek.index.episode_index import EpisodeIndex
from podseek.models.base import Encoder
from podseek.queries.segments import overlapping

RoundTrip = Callable[[list[str], list[str]], list[bool]]


def _top_ids(
    index: EpisodeIndex, encoder: Encoder | None, k: int, batch_size: int
) -> Callable[[list[str]], list[set[str]]]:
    """A function ``queries -> [ids in the top k of BM25 or the encoder]`` over ``index``."""
    if encoder is not None:
        index.check_encoder(encoder)
    backend = index.backend

    def top(queries: list[str]) -> list[set[str]]:
        found: list[set[str]] = []
        for start in range(0, len(queries), batch_size):
            texts = queries[start : start + batch_size]
            hits = [{i for i, _ in ranked} for ranked in backend.keyword_search(texts, k, None)]
            if encoder is not None:
                vectors = np.asarray(encoder.encode_queries(texts), dtype=np.float32)
                for ranked, dense in zip(
                    hits, backend.vector_search(vectors, k, None), strict=True
                ):
                    ranked.update(i for i, _ in dense)
            found.extend(hits)
        return found

    return top


def round_trip_check(
    index: EpisodeIndex, encoder: Encoder | None, k: int, batch_size: int = 256
) -> RoundTrip:
    """A function ``(queries, episode_ids) -> [found in top k]`` over ``index``.

    Args:
        index: the catalog's search index.
        encoder: the model that built it, or ``None`` for BM25 alone.
        k: how deep the episode may rank.
    """
    top = _top_ids(index, encoder, k, batch_size)

    def check(queries: list[str], episode_ids: list[str]) -> list[bool]:
        return [e in ranked for e, ranked in zip(episode_ids, top(queries), strict=True)]

    return check


def window_round_trip_check(
    index: EpisodeIndex, encoder: Encoder | None, k: int, batch_size: int = 256
) -> RoundTrip:
    """A function ``(queries, window_ids) -> [found in top k]`` over the segment index
    ``index``: found when the window, or one of its episode's windows that overlaps it,
    ranks in the top ``k``."""
    top = _top_ids(index, encoder, k, batch_size)

    def check(queries: list[str], window_ids: list[str]) -> list[bool]:
        return [
            any(hit == w or overlapping(w, hit) for hit in ranked)
            for w, ranked in zip(window_ids, top(queries), strict=True)
        ]

    return check
