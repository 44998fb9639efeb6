"""Reciprocal rank fusion of ranked lists.

RRF scores a document by the sum over lists of ``1 / (k + rank)``, rank counted from 1
(Cormack, Clarke and Büttcher, "Reciprocal Rank Fusion outperforms Condorcet and individual
rank learning methods", SIGIR 2009). ``k = 60`` is the paper's constant and ranx's default.

ranx's ``fuse(method="rrf")`` computes the same scores (our tests check it), but it compiles
with numba on first use (tens of seconds) and costs milliseconds per call; a search request
needs neither, so the online path uses this function and evaluation may use either.
"""

from collections.abc import Sequence

from podseek.index.base import Hit

RRF_K = 60


def reciprocal_rank_fusion(runs: Sequence[Sequence[Hit]], k: int = RRF_K) -> list[Hit]:
    """Fuse ranked ``(id, score)`` lists into one, best first; ties keep first-seen order.

    Example:
        >>> reciprocal_rank_fusion([[("a", 0.9), ("b", 0.5)], [("b", 7.0)]])[0][0]
        'b'
    """
    fused: dict[str, float] = {}
    for run in runs:
        for rank, (doc_id, _score) in enumerate(run, start=1):
            fused[doc_id] = fused.get(doc_id, 0.0) + 1.0 / (k + rank)
    return sorted(fused.items(), key=lambda item: -item[1])
