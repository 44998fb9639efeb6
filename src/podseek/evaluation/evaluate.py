"""``podseek evaluate``: how much better the fine-tuned encoder finds episodes than the model
it started from, than keyword search, and than both combined.

The protocol is the reference walkthrough's:

- **in-batch re-ranking** on the eval split (``pairs/qrels/dev.tsv``): MRR@5 and recall@1 of
  each query against the other episodes of its batch of 64;
- **full-corpus retrieval over the held-out episodes**: an index of the test split's
  episodes only (episodes no model was trained on), searched by the test split's synthetic
  queries; recall@10/30, MRR@10/30, nDCG@10;
- the same retrieval for every judged folder the user gives (``--qrels``, BEIR or TREC form,
  for example hand-written queries), over the whole catalog;

each for every model x mode (keyword search does not depend on the model: one row), with a
per-language breakdown. Every metric is ranx's (:mod:`podseek.evaluation.metrics`).

Evaluation indexes are built under ``<workspace>/evaluation/`` and brought up to date
incrementally (a rerun with the same models only searches); they are scratch indexes and
always LanceDB. The workspace's own index is reused wherever it lives (LanceDB or Milvus).
Queries are encoded by the model itself in float32 (not the int8 query engine;
``benchmarks/query_engines.py`` measures that difference).
"""

import json
import random
import re
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from podseek.beir import QuerySet, load_beir, load_corpus, load_judged_folder
from podseek.catalog.episode import TEXT_RECIPE
from podseek.catalog.store import CatalogStore
from podseek.config import Settings, get_settings
from podseek.errors import PodseekError
from podseek.evaluation.metrics import (
    CURVE_KS,
    IN_BATCH_METRICS,
    RETRIEVAL_METRICS,
    in_batch_runs,
    recall_curve,
    score_runs,
)
from podseek.extras import require
from podseek.index.backends import BackendOptions
from podseek.index.episode_index import EpisodeIndex, build_index, model_info, read_manifest
from podseek.models.base import Encoder
from podseek.models.device import CPU, Device
from podseek.models.onnx_queries import EpisodeEngine
from podseek.models.registry import (
    load_encoder,
    resolve_model,
    trained_models,
    training_record,
)
from podseek.search.engine import Searcher, SearchMode
from podseek.search.fusion import Fusion

KEYWORD_ROW = "keyword (BM25)"
LANGUAGE_METRICS = ("recall@30", "mrr@30")
HELD_OUT = "held-out"
SPLIT_NAMES = {"dev": "eval", "test": "test"}  # BEIR calls the eval split "dev"


@dataclass(frozen=True)
class EvaluateSettings:
    modes: tuple[SearchMode, ...] = (SearchMode.SEMANTIC, SearchMode.KEYWORD, SearchMode.HYBRID)
    depth: int = 100  # ranked list length (recall@k curves go up to it)
    in_batch_size: int = 64  # the reference's training and evaluation batch
    sample: int = 200  # query-episode pairs in the PCA picture
    seed: int = 0
    fusion: Fusion = Fusion.ADAPTIVE
    hybrid_depth: int = 100
    text_max_chars: int = 2000


@dataclass
class ModelUnderTest:
    """One encoder in the table: the base it started from, or a fine-tuned one."""

    label: str
    name: str
    role: str  # "base" or "tuned"
    training: dict[str, Any] | None = None


@dataclass
class JudgedSet:
    """Queries with judgments, and which corpus they search."""

    key: str
    title: str
    queries: QuerySet
    corpus: str  # HELD_OUT or "catalog"
    skipped: dict[str, int] = field(default_factory=dict)


def resolve_models(
    names: Sequence[str] | None, home: Path, default_model: str
) -> list[ModelUnderTest]:
    """``base`` is the model the first fine-tuned one started from (the default model when
    none is named); no names means ``base`` and every model trained in the workspace."""
    names = list(names or ["base", *trained_models(home)])
    records = {n: training_record(n, home) for n in names if n != "base"}
    tuned = [n for n in names if records.get(n)]
    base = records[tuned[0]]["base"] if tuned else default_model
    chosen: list[ModelUnderTest] = []
    for name in dict.fromkeys(names):
        if name == "base":
            chosen.append(ModelUnderTest(f"base ({base})", base, "base"))
        elif records.get(name):
            chosen.append(ModelUnderTest(name, name, "tuned", records[name]))
        else:
            try:
                resolve_model(name, home)  # a built-in, another trained model or a folder
            except PodseekError as error:
                raise PodseekError(f"--models: {error}") from None
            chosen.append(ModelUnderTest(name, name, "base"))
    return chosen


def held_out_set(pairs_dir: Path) -> JudgedSet:
    """The test split's synthetic (and search-log) queries over the held-out episodes."""
    queries = load_beir(pairs_dir, "test")
    if not queries.queries:
        raise PodseekError(f"{pairs_dir}: the test split has no queries")
    queries.name = "held-out test queries"
    return JudgedSet(HELD_OUT, "held-out test queries", queries, HELD_OUT)


def judged_folder_set(folder: Path, catalog_ids: set[str]) -> JudgedSet:
    """A ``--qrels`` folder, judged over the workspace's catalog. Judgments of episodes that
    are not in the catalog are dropped; a query left with none is skipped and counted."""
    queries = load_judged_folder(folder)
    skipped: Counter[str] = Counter()
    kept = set()
    for query_id, judged in queries.qrels.items():
        inside = {d: g for d, g in judged.items() if d in catalog_ids}
        if len(inside) < len(judged):
            skipped["judgments of episodes not in the catalog"] += len(judged) - len(inside)
        if any(g > 0 for g in inside.values()) and query_id in queries.queries:
            queries.qrels[query_id] = inside
            kept.add(query_id)
        else:
            skipped["queries with no relevant episode in the catalog"] += 1
    if not kept:
        raise PodseekError(
            f"--qrels {folder}: none of its {len(queries.qrels)} judged queries has a relevant "
            "episode in this catalog (are the ids the catalog's, like listennotes:950?)"
        )
    folder = Path(folder).resolve()
    name = folder.name if folder.is_dir() else f"{folder.parents[1].name} {folder.stem}"
    subset = queries.subset(kept, name)
    return JudgedSet(name, f"{name} ({len(kept)} judged queries)", subset, "catalog", dict(skipped))


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-.") or "model"


class IndexShelf:
    """The evaluation's indexes: one per corpus x model, built once and kept up to date."""

    def __init__(
        self,
        catalog: CatalogStore,
        home: Path,
        text_max_chars: int,
        workspace_index: Path,
        log: Callable[[str], None],
        settings: Settings | None = None,
    ) -> None:
        self.catalog = catalog
        # how indexes open: ANN search, and the workspace index's Milvus server, if any
        self.settings = settings or get_settings()
        self.root = Path(home) / "evaluation"
        self.text_max_chars = text_max_chars
        self.workspace_index = Path(workspace_index)
        self.log = log
        self.catalog_hashes = catalog.content_hashes()  # what the workspace index must hold

    def held_out_catalog(self, episode_ids: set[str]) -> CatalogStore:
        """A catalog of the held-out episodes only (copied from the workspace's)."""
        store = CatalogStore(self.root / HELD_OUT / "catalog.sqlite")
        episodes = self.catalog.get_many(sorted(episode_ids))
        with store.write(HELD_OUT) as write:
            for episode in episodes.values():
                write.upsert(episode.model_copy(update={"source": HELD_OUT}))
            write.remove_unseen()
        return store

    def open(self, corpus: str, source: CatalogStore, encoder: Encoder) -> EpisodeIndex:
        """The index of ``corpus`` for ``encoder``; the workspace's own index when it already
        holds exactly this catalog with this model (no second encoding of the catalog)."""
        if corpus == "catalog" and self._workspace_index_matches(encoder):
            return EpisodeIndex.open(self.settings, folder=self.workspace_index)
        folder = self.root / corpus / f"index-{_slug(encoder.name)}"
        started = time.perf_counter()
        report = build_index(
            source,
            encoder,
            folder,
            self.text_max_chars,
            progress=False,
            backend=BackendOptions(kind="lancedb"),
        )
        if report.encoded:
            self.log(
                f"  indexed {report.encoded:,} {corpus} episodes with {encoder.name} "
                f"in {time.perf_counter() - started:,.0f} s"
            )
        return EpisodeIndex.open(self.settings, folder=folder)

    def _workspace_index_matches(self, encoder: Encoder) -> bool:
        manifest = read_manifest(self.workspace_index)
        if manifest is None or manifest.model != model_info(encoder):
            return False
        if (manifest.text.recipe, manifest.text.max_chars) != (TEXT_RECIPE, self.text_max_chars):
            return False
        index = EpisodeIndex.open(self.settings, folder=self.workspace_index)
        try:
            return index.backend.content_hashes() == self.catalog_hashes
        finally:
            index.close()


def _row(model: ModelUnderTest, mode: SearchMode) -> str:
    return KEYWORD_ROW if mode is SearchMode.KEYWORD else f"{model.label} / {mode.value}"


def _languages(judged: JudgedSet, top: int = 8) -> dict[str, set[str]]:
    """Query ids by language (from the queries' metadata), the ``top`` most common first,
    the rest together as "other"."""
    langs = {
        q: str(judged.queries.metadata.get(q, {}).get("lang") or "?")
        for q in judged.queries.queries
    }
    common = [lang for lang, _ in Counter(langs.values()).most_common()]
    groups: dict[str, set[str]] = {}
    for query_id, lang in langs.items():
        key = lang if lang in common[:top] else "other"
        groups.setdefault(key, set()).add(query_id)
    return dict(sorted(groups.items(), key=lambda kv: -len(kv[1])))


def retrieval_table(
    judged: JudgedSet,
    models: list[ModelUnderTest],
    encoders: dict[str, Encoder],
    shelf: IndexShelf,
    settings: EvaluateSettings,
) -> dict[str, Any]:
    """Every model x mode over one judged set: metrics, recall@k curve, per-language rows."""
    source = (
        shelf.held_out_catalog({d for r in judged.queries.qrels.values() for d in r})
        if judged.corpus == HELD_OUT
        else shelf.catalog
    )
    ids = list(judged.queries.queries)
    texts = [judged.queries.queries[q] for q in ids]
    qrels = judged.queries.qrels
    rows: dict[str, dict[str, float]] = {}
    curves: dict[str, dict[int, float]] = {}
    runs: dict[str, dict[str, dict[str, float]]] = {}
    try:
        corpus_size = source.count()
        for model in models:
            index = shelf.open(judged.corpus, source, encoders[model.label])
            searcher = Searcher(
                index, encoders[model.label], settings.hybrid_depth, settings.fusion
            )
            try:
                for mode in settings.modes:
                    row = _row(model, mode)
                    if row in rows:  # keyword search is the same for every model
                        continue
                    started = time.perf_counter()
                    ranked = searcher.rank(texts, k=settings.depth, mode=mode)
                    seconds = time.perf_counter() - started
                    runs[row] = {q: dict(hits) for q, hits in zip(ids, ranked, strict=True)}
                    rows[row] = {
                        **score_runs(qrels, runs[row]),
                        "ms_per_query": round(1000 * seconds / len(ids), 1),
                    }
                    curves[row] = recall_curve(
                        qrels, runs[row], [k for k in CURVE_KS if k <= settings.depth]
                    )
            finally:
                index.close()
    finally:
        if source is not shelf.catalog:
            source.close()
    languages = {}
    for lang, members in _languages(judged).items():
        part = {q: qrels[q] for q in members}
        languages[lang] = {
            "queries": len(members),
            "rows": {
                row: score_runs(part, {q: run[q] for q in members}, LANGUAGE_METRICS)
                for row, run in runs.items()
            },
        }
    return {
        "title": judged.title,
        "corpus": judged.corpus,
        "corpus_episodes": corpus_size,
        "queries": len(ids),
        "skipped": judged.skipped,
        "rows": rows,
        "curves": curves,
        "languages": languages,
    }


def _pairs(judged: QuerySet) -> list[tuple[str, str]]:
    """``(query id, episode id)`` of a split where each query has one relevant episode."""
    return [
        (q, next(d for d, g in judged.qrels[q].items() if g > 0))
        for q in sorted(judged.queries)
        if any(g > 0 for g in judged.qrels.get(q, {}).values())
    ]


def in_batch_table(
    pairs_dir: Path,
    corpus: dict[str, str],
    split: str,
    models: list[ModelUnderTest],
    encoders: dict[str, Encoder],
    settings: EvaluateSettings,
) -> dict[str, Any] | None:
    """MRR@5 and recall@1 of each query against its batch, on one split's pairs."""
    try:
        evaluation = load_beir(pairs_dir, split)
    except PodseekError:
        return None
    pairs = _pairs(evaluation)
    if len(pairs) < 2:
        return None
    random.Random(settings.seed).shuffle(pairs)
    pairs = [(q, e) for q, e in pairs if e in corpus]
    query_ids = [q for q, _ in pairs]
    episode_ids = [e for _, e in pairs]
    qrels = {q: {e: 1} for q, e in pairs}
    rows = {}
    for model in models:
        encoder = encoders[model.label]
        queries = encoder.encode_queries([evaluation.queries[q] for q in query_ids])
        episodes = encoder.encode_episodes([corpus[e] for e in episode_ids])
        runs = in_batch_runs(query_ids, episode_ids, queries, episodes, settings.in_batch_size)
        rows[model.label] = score_runs(qrels, runs, IN_BATCH_METRICS)
    return {
        "split": split,
        "queries": len(pairs),
        "episodes": len(set(episode_ids)),
        "batch_size": settings.in_batch_size,
        "batches": -(-len(pairs) // settings.in_batch_size),
        "rows": rows,
    }


def pca_sample(
    corpus: dict[str, str],
    judged: QuerySet,
    models: list[ModelUnderTest],
    encoders: dict[str, Encoder],
    settings: EvaluateSettings,
) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], list[str]]:
    """Vectors of a seeded sample of held-out pairs (one query per episode) for each model."""
    by_episode: dict[str, str] = {}
    for query_id, episode_id in _pairs(judged):
        by_episode.setdefault(episode_id, query_id)
    chosen = sorted((e, q) for e, q in by_episode.items() if e in corpus)
    random.Random(settings.seed).shuffle(chosen)
    chosen = chosen[: settings.sample]
    labels = [judged.queries[q] for _, q in chosen]
    spaces = {}
    for model in models:
        encoder = encoders[model.label]
        spaces[model.label] = (
            np.asarray(encoder.encode_queries(labels), dtype=np.float32),
            np.asarray(encoder.encode_episodes([corpus[e] for e, _ in chosen]), dtype=np.float32),
        )
    return spaces, labels


@dataclass
class EvaluationRun:
    """What ``evaluate_models`` needs to know about the workspace."""

    home: Path
    catalog_path: Path
    pairs_dir: Path
    index_dir: Path
    default_model: str
    qrels_folders: list[Path] = field(default_factory=list)
    model_names: list[str] | None = None
    # how indexes open (ANN search, the workspace index's Milvus server); unset, podseek's
    settings: Settings | None = None
    device: Device = CPU  # where the models encode episodes and queries


def evaluate_models(
    run: EvaluationRun, settings: EvaluateSettings, log: Callable[[str], None] = print
) -> dict[str, Any]:
    """Run the whole evaluation; returns the report's data (see :mod:`~.report`)."""
    from importlib import metadata

    require("evaluate", "ranx", "sklearn", "matplotlib", "plotly", what="podseek evaluate")

    started = time.perf_counter()
    has_pairs = (Path(run.pairs_dir) / "qrels" / "test.tsv").is_file()
    if not has_pairs and not run.qrels_folders:
        raise PodseekError(
            f"nothing to evaluate on: no split at {run.pairs_dir} (run `podseek queries "
            "generate` and `podseek pairs split`) and no --qrels folder"
        )
    if not Path(run.catalog_path).is_file():
        raise PodseekError(f"no catalog at {run.catalog_path}; run `podseek ingest` first")
    models = resolve_models(run.model_names, run.home, run.default_model)
    seconds: dict[str, float] = {}
    with CatalogStore(run.catalog_path) as catalog:
        shelf = IndexShelf(
            catalog, run.home, settings.text_max_chars, run.index_dir, log, run.settings
        )
        catalog_ids = set(shelf.catalog_hashes)
        sets = [held_out_set(run.pairs_dir)] if has_pairs else []
        sets += [judged_folder_set(folder, catalog_ids) for folder in run.qrels_folders]
        log(
            f"evaluating {', '.join(m.label for m in models)} on {', '.join(s.title for s in sets)}"
        )
        # episodes as podseek index encodes them (the settings' episode engine); queries by
        # the model itself
        engine = run.settings.episode_engine if run.settings else EpisodeEngine.TORCH
        encoders = {
            m.label: load_encoder(m.name, run.home, device=run.device, episode_engine=engine)
            for m in models
        }
        retrieval = {}
        for judged in sets:
            tick = time.perf_counter()
            log(f"retrieval: {judged.title} over the {judged.corpus} index")
            retrieval[judged.key] = retrieval_table(judged, models, encoders, shelf, settings)
            seconds[f"retrieval {judged.key}"] = round(time.perf_counter() - tick, 1)
        in_batch: dict[str, Any] = {}
        spaces = None
        labels: list[str] = []
        if has_pairs:
            corpus = load_corpus(Path(run.pairs_dir) / "corpus.jsonl")
            # the eval split is the reference's (1% of the episodes: few queries); the test
            # split's many batches give the steadier number
            for split in ("dev", "test"):
                tick = time.perf_counter()
                log(f"in-batch re-ranking on the {SPLIT_NAMES[split]} split")
                table = in_batch_table(run.pairs_dir, corpus, split, models, encoders, settings)
                if table:
                    in_batch[split] = table
                seconds[f"in-batch {split}"] = round(time.perf_counter() - tick, 1)
            if settings.sample > 0:
                spaces, labels = pca_sample(corpus, sets[0].queries, models, encoders, settings)
        split_path = Path(run.pairs_dir) / "split.json"
        data = {
            "catalog": str(Path(run.catalog_path).resolve()),
            "catalog_episodes": len(catalog_ids),
            "pairs_dir": str(Path(run.pairs_dir).resolve()) if has_pairs else None,
            "split": json.loads(split_path.read_text())
            if has_pairs and split_path.is_file()
            else None,
            "qrels_folders": [str(Path(f).resolve()) for f in run.qrels_folders],
        }
    seconds["total"] = round(time.perf_counter() - started, 1)
    versions = {}
    for package in ("podseek", "sentence-transformers", "transformers", "torch", "lancedb", "ranx"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return {
        "data": data,
        "models": [
            {
                **asdict(m),
                "fingerprint": model_info(encoders[m.label]).fingerprint,
                "dimension": encoders[m.label].dimension,
            }
            for m in models
        ],
        "settings": {
            **asdict(settings),
            "modes": [m.value for m in settings.modes],
            "fusion": settings.fusion.value,
            "query_vectors": f"the model itself, on {run.device.describe()}",
            "device": run.device.describe(),
            "metrics": list(RETRIEVAL_METRICS),
        },
        "in_batch": in_batch,
        "retrieval": retrieval,
        "seconds": seconds,
        "versions": versions,
        "_pca": (spaces, labels),
    }
