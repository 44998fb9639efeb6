"""Generate synthetic queries for a catalog, resumably, then filter them into training pairs.

:func:`generate_queries` walks the catalog's episodes in a seeded random order (so ``--limit``
takes a fair sample of shows and languages, the same one on every run), asks the generator
for one batch at a time and commits each batch before the next (:class:`QueryStore`). A rerun
with the same settings continues where the last one stopped; an episode whose content changed
is generated again. :func:`filter_queries` then turns every raw query of the catalog's current
episodes into the kept ``synthetic`` pairs, counting what each filter removed.
"""

import random
import sys
import time
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from tqdm.auto import tqdm

from podseek.catalog.episode import Episode, episode_text
from podseek.catalog.store import CatalogStore
from podseek.errors import PodseekError
from podseek.queries.filters import FilterReport, QueryFilter
from podseek.queries.generators import QueryGenerator, generator_device
from podseek.queries.round_trip import RoundTrip
from podseek.queries.store import SYNTHETIC, QueryStore


@dataclass
class GenerationReport:
    """What a ``generate`` run did."""

    generator: str
    per_episode: int
    seed: int
    device: str = "cpu"  # what ran the generator: "cuda:0 (NVIDIA H200, bf16)"
    eligible: int = 0  # episodes that can get queries (after --limit)
    already_done: int = 0
    generated: int = 0  # episodes generated for in this run
    queries: int = 0  # raw queries written in this run
    seconds: float = 0.0
    interrupted: bool = False
    skipped: dict[str, int] = field(default_factory=dict)

    @property
    def episodes_per_second(self) -> float:
        return self.generated / self.seconds if self.seconds else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "episodes_per_second": round(self.episodes_per_second, 3)}


def skip_reason(episode: Episode, generator: QueryGenerator) -> str | None:
    """Why an episode gets no queries, or ``None``."""
    if episode.is_show_level:
        return "show-level record"
    if not episode_text(episode).strip():
        return "no text"
    if generator.name == "title" and not episode.episode_title.strip():
        return "no episode title"
    return None


def episode_order(episode_ids: Sequence[str], seed: int) -> list[str]:
    """The seeded order in which episodes are generated for (and ``--limit`` cuts)."""
    ordered = sorted(episode_ids)
    random.Random(seed).shuffle(ordered)
    return ordered


def batch_seed(seed: int, episode_ids: Sequence[str]) -> int:
    """The sampling seed of one batch: fixed by the run's seed and the batch's episodes, so
    a resumed run samples each batch as an uninterrupted one would."""
    return zlib.crc32("\n".join(episode_ids).encode(), seed & 0xFFFFFFFF)


def check_run(store: QueryStore, run: dict[str, Any], restart: bool) -> None:
    """Refuse to mix queries from different settings unless asked to start over."""
    previous = store.get_meta("run")
    episodes, _ = store.generated_count()
    if previous and previous != run and episodes:
        if not restart:
            raise PodseekError(
                f"the workspace holds queries from another run ({_describe(previous)}); "
                f"rerun with those settings to continue it, or add --restart to replace them"
            )
        store.clear_generated()
    store.set_meta("run", run)


def _describe(run: dict[str, Any]) -> str:
    return f"--generator {run['generator']} --per-episode {run['per_episode']} --seed {run['seed']}"


def generate_queries(
    catalog: CatalogStore,
    store: QueryStore,
    generator: QueryGenerator,
    per_episode: int = 3,
    seed: int = 0,
    limit: int | None = None,
    batch_size: int = 16,
    restart: bool = False,
    progress: bool = True,
) -> GenerationReport:
    """Write ``per_episode`` raw queries for each eligible episode not done yet.

    ``generator`` may be a :class:`podseek.scale.ray_jobs.RayGenerator`: the same batches,
    with the same seeds, then run on a Ray cluster's actors and are committed in the same
    order.

    Ctrl-C stops after committing the batches finished so far (the report says
    ``interrupted``); nothing half-written is stored.
    """
    check_run(
        store, {"generator": generator.name, "per_episode": per_episode, "seed": seed}, restart
    )
    report = GenerationReport(generator.name, per_episode, seed, generator_device(generator))
    skipped: dict[str, int] = {}
    hashes: dict[str, str] = {}
    for episode in catalog.iter_episodes():
        why = skip_reason(episode, generator)
        if why:
            skipped[why] = skipped.get(why, 0) + 1
        else:
            hashes[episode.id] = episode.content_hash()
    report.skipped = skipped
    order = episode_order(list(hashes), seed)[:limit]
    report.eligible = len(order)
    done = store.done_hashes()
    pending = [i for i in order if done.get(i) != hashes[i]]
    report.already_done = len(order) - len(pending)

    started = time.perf_counter()
    bar = tqdm(total=len(pending), unit="episode", desc="Generating", disable=not progress)
    batches = [pending[start : start + batch_size] for start in range(0, len(pending), batch_size)]
    on_ray = hasattr(generator, "generate_batches")
    try:
        if on_ray:
            results = _generated_on_ray(catalog, generator, batches, per_episode, seed)
        else:
            results = _generated_here(catalog, generator, batches, per_episode, seed)
        for ids, queries in results:
            store.save_batch([(i, hashes[i], qs) for i, qs in zip(ids, queries, strict=True)])
            report.generated += len(ids)
            report.queries += sum(len(qs) for qs in queries)
            bar.update(len(ids))
    except KeyboardInterrupt:
        report.interrupted = True
    finally:
        bar.close()
        report.seconds = time.perf_counter() - started
        if on_ray:
            report.device = generator.describe()  # type: ignore[attr-defined]
    return report


Generated = Iterator[tuple[list[str], list[list[str]]]]


def _generated_here(
    catalog: CatalogStore,
    generator: QueryGenerator,
    batches: list[list[str]],
    per_episode: int,
    seed: int,
) -> Generated:
    """``(ids, one list of queries per episode)`` per batch, generated in this process."""
    for ids in batches:
        episodes = catalog.get_many(ids)
        batch = [episodes[i] for i in ids]
        yield ids, generator.generate(batch, per_episode, batch_seed(seed, ids))


def _generated_on_ray(
    catalog: CatalogStore,
    generator: Any,
    batches: list[list[str]],
    per_episode: int,
    seed: int,
) -> Generated:
    """The same batches with the same seeds, generated by a Ray cluster's actors
    (:class:`podseek.scale.ray_jobs.RayGenerator`), in the same order."""

    def work() -> Iterator[tuple[list[Episode], int]]:
        for ids in batches:
            episodes = catalog.get_many(ids)
            yield [episodes[i] for i in ids], batch_seed(seed, ids)

    for k, queries in generator.generate_batches(work(), len(batches), per_episode):
        yield batches[k], queries


def filter_queries(
    catalog: CatalogStore,
    store: QueryStore,
    query_filter: QueryFilter,
    round_trip: RoundTrip | None = None,
    progress: bool = True,
) -> FilterReport:
    """Filter every raw query of the catalog's current episodes into the ``synthetic`` pairs.

    The pairs are replaced as a whole, so filtering again with other settings gives the same
    result as filtering once. Queries of episodes no longer in the catalog are left out.
    """
    generated = store.generated()
    episodes = catalog.get_many(list(generated))
    items = [(episodes[i], generated[i]) for i in generated if i in episodes]
    report = FilterReport()
    if progress and round_trip is not None:
        tqdm.write(f"Round-trip check of the queries of {len(items):,} episodes...", sys.stderr)
    pairs = query_filter.apply(items, report, round_trip)
    store.replace_pairs(SYNTHETIC, pairs)
    store.set_meta("filter_report", report.to_dict())
    return report
