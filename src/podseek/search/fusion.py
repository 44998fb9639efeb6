"""Fusion of a semantic and a keyword ranked list into one hybrid list.

Three fusions, the ``hybrid_fusion`` setting's choices. The two fixed ones compute what
ranx's ``fuse`` computes (our tests check it); they are written here because ranx compiles
with numba on first use and then costs more per call than a search request can pay:

- :func:`convex_combination` (``convex``): ``alpha * dense + (1 - alpha) * keyword`` over
  min-max normalised scores, a document missing from a list scoring 0 there. Bruch, Gai and
  Ingber ("An Analysis of Fusion Functions for Hybrid Retrieval", ACM TOIS 2023) find it
  better than RRF and robust to its one parameter. On our hand-written dev set RRF made hybrid
  worse than semantic search alone, since BM25 returns unrelated episodes for queries that
  share no word with their answer, and RRF counts their ranks as much as the encoder's;
  ``alpha = 0.8`` keeps BM25 as a tie-breaker (``benchmarks/zero_shot_quality.py``).
- :func:`adaptive_alpha` (``adaptive``, the default): the same convex combination with a
  weight per query. BM25 helps when the query's words are in the episode, and adds noise
  when they are not; so the keyword weight ``1 - alpha`` grows with the query's *coverage*,
  the largest share of its content words that one of BM25's top 3 episodes contains:
  ``alpha = 1 - 0.5 * coverage``, from 1 (keyword ignored) to 0.5. On our dev set it raised
  hybrid recall@10 over the fixed weight for all three encoders (docs/results.md; the
  choice is explained in docs/search.md, "The default encoder").
- :func:`reciprocal_rank_fusion` (``rrf``): ``sum 1 / (k + rank)``, rank from 1, ``k = 60``
  (Cormack, Clarke and Büttcher, "Reciprocal Rank Fusion outperforms Condorcet and individual
  rank learning methods", SIGIR 2009; ranx's default too). It needs no score scale, which makes it
  the safe choice for lists whose scores are not comparable at all.
"""

from collections.abc import Sequence
from enum import StrEnum

from podseek.catalog.cleaning import content_words
from podseek.index.base import Hit

RRF_K = 60
CONVEX_ALPHA = 0.8
ADAPTIVE_MIN_ALPHA = 0.5  # the most weight keyword search gets, when its hits hold every word
COVERAGE_HITS = 3  # keyword hits whose text is compared with the query


class Fusion(StrEnum):
    ADAPTIVE = "adaptive"
    CONVEX = "convex"
    RRF = "rrf"


def _ranked(scores: dict[str, float]) -> list[Hit]:
    return sorted(scores.items(), key=lambda item: -item[1])


def reciprocal_rank_fusion(runs: Sequence[Sequence[Hit]], k: int = RRF_K) -> list[Hit]:
    """Fuse ranked ``(id, score)`` lists by reciprocal rank, best first (ties: first seen).

    Example:
        >>> reciprocal_rank_fusion([[("a", 0.9), ("b", 0.5)], [("b", 7.0)]])[0][0]
        'b'
    """
    fused: dict[str, float] = {}
    for run in runs:
        for rank, (doc_id, _score) in enumerate(run, start=1):
            fused[doc_id] = fused.get(doc_id, 0.0) + 1.0 / (k + rank)
    return _ranked(fused)


def min_max(run: Sequence[Hit]) -> dict[str, float]:
    """Scores rescaled to [0, 1] within the list (ranx's "min-max" norm), except that a list
    whose scores are all equal (one hit, say) scores 1 throughout, where ranx gives 0: its
    hits are that list's best, and a lone keyword match should still count."""
    if not run:
        return {}
    scores = [score for _, score in run]
    low, high = min(scores), max(scores)
    if high - low < 1e-9:
        return {doc_id: 1.0 for doc_id, _ in run}
    return {doc_id: (score - low) / (high - low) for doc_id, score in run}


def convex_combination(
    dense: Sequence[Hit], keyword: Sequence[Hit], alpha: float = CONVEX_ALPHA
) -> list[Hit]:
    """``alpha * dense + (1 - alpha) * keyword`` over min-max normalised scores, best first.

    Example:
        >>> convex_combination([("a", 0.9), ("b", 0.5)], [("b", 7.0), ("c", 1.0)])[0][0]
        'a'
    """
    fused: dict[str, float] = {}
    for run, weight in ((min_max(dense), alpha), (min_max(keyword), 1.0 - alpha)):
        for doc_id, score in run.items():
            fused[doc_id] = fused.get(doc_id, 0.0) + weight * score
    return _ranked(fused)


def query_coverage(query: str, texts: Sequence[str]) -> float:
    """The largest share of the query's content words that one of ``texts`` contains.

    Example:
        >>> query_coverage("healthy christmas food", ["Food at Christmas", "Tax tips"])
        0.6666666666666666
    """
    wanted = content_words(query)
    if not wanted or not texts:
        return 0.0
    return max(len(wanted & content_words(text)) / len(wanted) for text in texts)


def adaptive_alpha(coverage: float, min_alpha: float = ADAPTIVE_MIN_ALPHA) -> float:
    """The semantic weight for a query whose top keyword hits cover ``coverage`` of it."""
    return 1.0 - (1.0 - min_alpha) * min(1.0, max(0.0, coverage))


def fuse(
    dense: Sequence[Hit], keyword: Sequence[Hit], method: Fusion, alpha: float = CONVEX_ALPHA
) -> list[Hit]:
    """Fuse the two lists; ``alpha`` is the semantic weight of the convex fusions."""
    if Fusion(method) is Fusion.RRF:
        return reciprocal_rank_fusion([dense, keyword])
    return convex_combination(dense, keyword, alpha)
