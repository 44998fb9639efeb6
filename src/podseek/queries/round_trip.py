"""The round-trip check: does a query find its own episode in the top ``k`` of the catalog?

It runs against the search index that ``podseek index`` built with the base encoder, so it
asks the same two retrievers the listener would meet: the encoder (semantic search) and BM25
(keyword search). A query passes when either ranks its episode in the top ``k``.
"""

from collections.abc import Callable

import numpy as np

from podseek.index.episode_index import EpisodeIndex
from podseek.models.base import Encoder

RoundTrip = Callable[[list[str], list[str]], list[bool]]


def round_trip_check(
    index: EpisodeIndex, encoder: Encoder | None, k: int, batch_size: int = 256
) -> RoundTrip:
    """A function ``(queries, episode_ids) -> [found in top k]`` over ``index``.

    Args:
        index: the catalog's search index.
        encoder: the model that built it, or ``None`` for BM25 alone.
        k: how deep the episode may rank.
    """
    if encoder is not None:
        index.check_encoder(encoder)
    backend = index.backend

    def check(queries: list[str], episode_ids: list[str]) -> list[bool]:
        found: list[bool] = []
        for start in range(0, len(queries), batch_size):
            texts = queries[start : start + batch_size]
            wanted = episode_ids[start : start + batch_size]
            keyword = backend.keyword_search(texts, k, None)
            hits = [{i for i, _ in ranked} for ranked in keyword]
            if encoder is not None:
                vectors = np.asarray(encoder.encode_queries(texts), dtype=np.float32)
                for ranked, dense in zip(
                    hits, backend.vector_search(vectors, k, None), strict=True
                ):
                    ranked.update(i for i, _ in dense)
            found.extend(episode in ranked for episode, ranked in zip(wanted, hits, strict=True))
        return found

    return check
