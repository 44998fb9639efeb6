"""doc2query document expansion: synthetic queries appended to the keyword (BM25) text.

doc2query's original use: each document's generated queries are added to the text that BM25
indexes, so that a listener's words meet the words a generator thought of. This measures it
on one half of the hand-written set, over a workspace whose queries were generated for the
whole catalog (``podseek pipeline`` or ``podseek queries generate``):

- ``none``: the episode text alone (today's index);
- ``kept``: plus the queries that passed every filter, the round trip included (the pairs);
- ``filtered``: plus every query that passed the text filters (the round trip not asked:
  a query the base model cannot answer is the one expansion could help with).

Each variant is an index beside the workspace's, with the workspace's vectors (nothing is
encoded again: only the keyword side changes). Keyword-only, hybrid, and the pair of
encoders (``PODSEEK_ENSEMBLE_MODEL``) are scored with ranx, by query kind and language.

    PODSEEK_HOME=ws python benchmarks/doc2query_quality.py [--split dev] [--model e5-small]
"""

import argparse
import hashlib
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from ranx import Qrels, Run, evaluate

sys.path.insert(0, str(Path(__file__).resolve().parent))

from zero_shot_quality import COLUMNS, DEVSET, slices

from podseek.beir import load_beir
from podseek.catalog.episode import Episode
from podseek.catalog.store import CatalogStore
from podseek.config import Settings
from podseek.index.episode_index import (
    EpisodeIndex,
    EpisodeRecords,
    build_index,
    open_ensemble_indexes,
)
from podseek.models.registry import load_encoder
from podseek.queries.filters import FilterReport, FilterSettings, QueryFilter
from podseek.queries.store import SYNTHETIC, QueryStore
from podseek.search.engine import Searcher, SearchMode

VARIANTS = ("none", "kept", "filtered")


class ExpandedRecords(EpisodeRecords):
    """The catalog's episodes with their queries after the text (for the keyword index)."""

    def __init__(self, catalog: CatalogStore, max_chars: int, queries: dict[str, list[str]]):
        super().__init__(catalog, max_chars)
        self.queries = queries

    def content_hashes(self) -> dict[str, str]:
        """The episode's hash and its queries': a rerun with more queries redoes those rows."""
        return {
            i: h + hashlib.sha1("\n".join(self.queries.get(i, [])).encode()).hexdigest()[:12]
            for i, h in super().content_hashes().items()
        }

    def read(self, ids: Sequence[str]) -> tuple[dict[str, Episode], list[str]]:
        episodes, texts = super().read(ids)
        return episodes, [
            "\n".join([text, *self.queries.get(i, [])]) for i, text in zip(ids, texts, strict=True)
        ]


class StoredVectors:
    """Chunks 'encoded' by looking their vectors up in the workspace's index."""

    def __init__(self, index: EpisodeIndex) -> None:
        ids, matrix = index.backend.all_vectors()
        self.vectors = dict(zip(ids, matrix, strict=True))
        self.model = index.manifest.model.name

    def __call__(self, records, parts, batch_size):
        for ids in parts:
            episodes, texts = records.read(ids)
            yield ids, episodes, texts, [self.vectors[i] for i in ids], 0.0

    def describe(self) -> str:
        return f"the vectors of {self.model}'s index"


def expansions(settings: Settings, catalog: CatalogStore) -> dict[str, dict[str, list[str]]]:
    """Variant -> episode id -> the queries appended to its keyword text."""
    with QueryStore(settings.queries_path) as store:
        generated = store.generated()
        kept: dict[str, list[str]] = {}
        for pair in store.iter_pairs([SYNTHETIC]):
            kept.setdefault(pair["episode_id"], []).append(pair["query"])
    episodes = catalog.get_many([i for i in generated if "#" not in i])
    text_filter = QueryFilter.for_prompts(FilterSettings())
    passed: dict[str, list[str]] = {}
    report = FilterReport()
    for query, episode_id in text_filter.apply(
        [(episodes[i], generated[i]) for i in episodes], report
    ):
        passed.setdefault(episode_id, []).append(query)
    return {"none": {}, "kept": kept, "filtered": passed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", choices=("dev", "test"), default="dev")
    parser.add_argument("--out", type=Path, default=Path("/tmp/podseek-doc2query"))
    args = parser.parse_args()

    settings = Settings()
    half = load_beir(DEVSET, args.split)
    ids = list(half.queries)
    texts = [half.queries[q] for q in ids]
    main_index = EpisodeIndex.open(settings)
    model = main_index.manifest.model.name
    encoder = load_encoder(model, settings.home)
    # the first ensemble model, as a one-partner workspace searches
    ensemble = next(iter(open_ensemble_indexes(settings, main_index.manifest, print)), None)
    partner_encoder = (
        load_encoder(ensemble.manifest.model.name, settings.home) if ensemble else None
    )
    vectors = StoredVectors(main_index)
    runs: dict[str, Run] = {}
    with CatalogStore(settings.catalog_path) as catalog:
        added = expansions(settings, catalog)
        for variant in VARIANTS:
            queries = added[variant]
            print(
                f"# {variant}: {sum(map(len, queries.values())):,} queries over "
                f"{len(queries):,} episodes",
                flush=True,
            )
            folder = args.out / f"{model}-{variant}"
            records = ExpandedRecords(catalog, settings.text_max_chars, queries)
            build_index(
                catalog, encoder, folder, settings.text_max_chars, records=records, encoding=vectors
            )
            index = EpisodeIndex(folder)
            alone = Searcher(index, encoder)
            searchers = {"keyword": (alone, SearchMode.KEYWORD), model: (alone, SearchMode.HYBRID)}
            if ensemble is not None:
                partner = Searcher(ensemble, partner_encoder)
                pair = Searcher(index, encoder, partners=[partner])
                searchers[f"{model}+{ensemble.manifest.model.name}"] = (pair, SearchMode.HYBRID)
            for label, (searcher, mode) in searchers.items():
                started = time.perf_counter()
                ranked = searcher.rank(texts, k=100, mode=mode)
                ms = 1000 * (time.perf_counter() - started) / len(ids)
                run = {q: dict(hits) or {"none": 0.0} for q, hits in zip(ids, ranked, strict=True)}
                runs[f"{label} / {variant}"] = Run(run, name=f"{label}/{variant}")
                print(f"  {label}: {ms:.1f} ms a query", flush=True)
            index.close()
    parts = slices(half)
    names = [part.name for part in parts]
    columns = [(name, metric) for name, metric in COLUMNS if name in names]
    print(f"\n{args.split} half: {len(ids)} queries, {main_index.manifest.rows:,} episodes\n")
    print("| search / expansion | " + " | ".join(f"{n} {m}" for n, m in columns) + " |")
    print("|---|" + "---:|" * len(columns))
    for label in sorted(runs, key=lambda name: name.split(" / ")[0]):
        run = runs[label]
        row = []
        for name, metric in columns:
            part = next(p for p in parts if p.name == name)
            score = evaluate(Qrels(part.qrels), Run({q: run[q] for q in part.queries}), metric)
            row.append(f"{score:.3f}")
        print(f"| {label} | " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
