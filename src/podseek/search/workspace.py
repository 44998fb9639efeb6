"""The searcher over a workspace, as ``podseek search`` opens it: the index with the model
that built it, the ensemble models' indexes beside it, the segment index of the transcripts,
and the re-ranker the settings name. A companion index that is missing or does not fit is
left out with a note (the search still answers), never a failure."""

from collections.abc import Callable

from podseek.config import Settings
from podseek.errors import PodseekError, Unavailable
from podseek.index.episode_index import EpisodeIndex, open_ensemble_indexes
from podseek.models.device import settings_device
from podseek.models.registry import load_encoder, query_languages
from podseek.models.reranker import Reranker, load_reranker
from podseek.search.engine import Searcher
from podseek.search.segments import segment_search


def open_searcher(
    settings: Settings, model: str | None = None, note: Callable[[str], None] | None = None
) -> Searcher:
    """A searcher over the workspace's indexes; ``model``, when given, must be the one that
    built the index. ``note`` hears why a companion index was left out."""
    index = EpisodeIndex.open(settings)
    built_with = index.manifest.model.name
    if model is not None and model != built_with:
        raise PodseekError(
            f"the index was built with model {built_with!r}; search it with that model, "
            f"or rebuild it with `podseek index --model {model}`"
        )
    device = settings_device(settings, for_search=True)
    encoder = load_encoder(built_with, settings.home, settings.query_engine, device)
    partners = [
        Searcher(
            second,
            load_encoder(second.manifest.model.name, settings.home, settings.query_engine, device),
            settings.hybrid_depth,
            settings.hybrid_fusion,
            languages=query_languages(second.manifest.model.name, settings.home),
        )
        for second in open_ensemble_indexes(settings, index.manifest, note or _unheard)
    ]
    searcher = Searcher(
        index,
        encoder,
        settings.hybrid_depth,
        settings.hybrid_fusion,
        partners=partners,
        reranker=settings_reranker(settings),
        rerank_depth=settings.rerank_depth,
        rerank_weight=settings.rerank_weight,
    )
    try:
        searcher.segments = segment_search(settings, searcher)
    except Unavailable as missing:
        if note:
            note(f"searching episodes only: {missing}")
    return searcher


def _unheard(_: str) -> None:
    """Where a note goes when the caller did not ask for one."""


def settings_reranker(settings: Settings) -> Reranker | None:
    """The re-ranker the ``reranker`` setting names, on the search device; none when unset."""
    if settings.reranker is None:
        return None
    device = settings_device(settings, for_search=True)
    return load_reranker(settings.reranker, settings.home, device)
