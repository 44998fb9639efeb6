"""Generate synthetic queries for a catalog, resumably, then filter them into training pairs.

:func:`generate_queries` walks the catalog's episodes in a seeded random order (so ``--limit``
takes a fair sample of shows and languages, the same one on every run), asks the generator
for one batch at a time and commits each batch before the next (:class:`QueryStore`). A rerun
with the same settings continues where the last one stopped; an episode whose content changed
is generated again. With each episode whose transcript is in the catalog come up to
``segments_per_episode`` of its windows (:mod:`podseek.queries.segments`), each generated for
as its own record under its window id, in the same batches. :func:`filter_queries` then turns
every raw query of the catalog's current episodes and windows into the kept ``synthetic``
pairs, counting what each filter removed.
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
from podseek.catalog.windows import transcript_windows
from podseek.errors import PodseekError
from podseek.queries.filters import FilterReport, QueryFilter
from podseek.queries.generators import QueryGenerator, generator_device
from podseek.queries.round_trip import RoundTrip
from podseek.queries.segments import (
    WindowTarget,
    find_windows,
    pick_windows,
    target_hash,
    window_parent,
)
from podseek.queries.store import SYNTHETIC, QueryStore


@dataclass
class GenerationReport:
    """What a ``generate`` run did. Episodes and windows are counted apart: ``eligible``,
    ``already_done``, ``generated`` and ``queries`` are episodes'; the ``windows*`` fields
    their transcripts' windows'."""

    generator: str
    per_episode: int
    seed: int
    device: str = "cpu"  # what ran the generator: "cuda:0 (NVIDIA H200, bf16)"
    segments_per_episode: int = 0
    eligible: int = 0  # episodes that can get queries (after --limit)
    already_done: int = 0
    generated: int = 0  # episodes generated for in this run
    queries: int = 0  # raw queries written in this run for episodes
    transcribed: int = 0  # eligible episodes with a transcript
    windows: int = 0  # windows of theirs picked for queries
    windows_already_done: int = 0
    windows_generated: int = 0  # windows generated for in this run
    window_queries: int = 0  # raw queries written in this run for windows
    seconds: float = 0.0
    interrupted: bool = False
    skipped: dict[str, int] = field(default_factory=dict)

    @property
    def episodes_per_second(self) -> float:
        return self.generated / self.seconds if self.seconds else 0.0

    @property
    def texts_per_second(self) -> float:
        """Episodes and windows generated for, per second."""
        done = self.generated + self.windows_generated
        return done / self.seconds if self.seconds else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "episodes_per_second": round(self.episodes_per_second, 3),
            "texts_per_second": round(self.texts_per_second, 3),
        }


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
    """Refuse to mix queries from different settings unless asked to start over.

    A run recorded before windows got queries has no ``segments_per_episode``: it holds no
    window queries, so it continues with whatever number this run asks for."""
    previous = store.get_meta("run")
    if previous and "segments_per_episode" not in previous and "segments_per_episode" in run:
        previous = {**previous, "segments_per_episode": run["segments_per_episode"]}
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
    described = (
        f"--generator {run['generator']} --per-episode {run['per_episode']} --seed {run['seed']}"
    )
    if "segments_per_episode" in run:
        described += f" --segments-per-episode {run['segments_per_episode']}"
    return described


def episode_windows(
    catalog: CatalogStore, episode_ids: set[str], n: int, seed: int
) -> dict[str, list[WindowTarget]]:
    """``{episode id: its picked windows}`` of those of ``episode_ids`` with a transcript
    (:func:`podseek.queries.segments.pick_windows`)."""
    picked: dict[str, list[WindowTarget]] = {}
    if n <= 0:
        return picked
    for episode, _, segments in catalog.iter_transcripts():
        if episode.id in episode_ids:
            windows = pick_windows(transcript_windows(segments), n, seed, episode.id)
            picked[episode.id] = [WindowTarget(episode, w) for w in windows]
    return picked


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
    segments_per_episode: int = 2,
) -> GenerationReport:
    """Write ``per_episode`` raw queries for each eligible episode not done yet, and as many
    for each of up to ``segments_per_episode`` windows of its transcript (0: none).

    An episode is followed by its windows, and batches (of ``batch_size`` episodes and
    windows together) are committed one by one. A window is done while its episode's fields
    and its words are those it was generated from; windows of an episode that are no longer
    picked (its transcript changed) are forgotten.

    ``generator`` may be a :class:`podseek.scale.ray_jobs.RayGenerator`: the same batches,
    with the same seeds, then run on a Ray cluster's actors and are committed in the same
    order.

    Ctrl-C stops after committing the batches finished so far (the report says
    ``interrupted``); nothing half-written is stored.
    """
    run = {
        "generator": generator.name,
        "per_episode": per_episode,
        "seed": seed,
        "segments_per_episode": segments_per_episode,
    }
    check_run(store, run, restart)
    report = GenerationReport(
        generator.name, per_episode, seed, generator_device(generator), segments_per_episode
    )
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
    chosen = set(order)
    picked = episode_windows(catalog, chosen, segments_per_episode, seed)
    report.transcribed = len(picked)
    items: list[str] = []
    windows: set[str] = set()
    for episode_id in order:
        items.append(episode_id)
        for target in picked.get(episode_id, []):
            hashes[target.id] = target_hash(hashes[episode_id], target.window)
            items.append(target.id)
            windows.add(target.id)
    report.windows = len(windows)
    done = store.done_hashes()
    # windows of this run's episodes that are not picked any more (a changed transcript)
    stale = [i for i in done if i not in hashes and window_parent(i) in chosen]
    store.forget(stale)
    pending = [i for i in items if done.get(i) != hashes[i]]
    pending_windows = sum(1 for i in pending if i in windows)
    report.windows_already_done = report.windows - pending_windows
    report.already_done = report.eligible - (len(pending) - pending_windows)

    started = time.perf_counter()
    bar = tqdm(total=len(pending), unit="text", desc="Generating", disable=not progress)
    batches = [pending[start : start + batch_size] for start in range(0, len(pending), batch_size)]
    targets = {t.id: t for ts in picked.values() for t in ts}
    on_ray = hasattr(generator, "generate_batches")
    try:
        if on_ray:
            results = _generated_on_ray(catalog, generator, batches, targets, per_episode, seed)
        else:
            results = _generated_here(catalog, generator, batches, targets, per_episode, seed)
        for ids, queries in results:
            store.save_batch([(i, hashes[i], qs) for i, qs in zip(ids, queries, strict=True)])
            for i, qs in zip(ids, queries, strict=True):
                if i in windows:
                    report.windows_generated += 1
                    report.window_queries += len(qs)
                else:
                    report.generated += 1
                    report.queries += len(qs)
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


def _records(
    catalog: CatalogStore, ids: Sequence[str], targets: dict[str, WindowTarget]
) -> list[Episode]:
    """What the generator reads for each of ``ids``: an episode's record from the catalog,
    a window's episode copy (:func:`podseek.queries.segments.window_episode`)."""
    episodes = catalog.get_many([i for i in ids if i not in targets])
    return [targets[i].record if i in targets else episodes[i] for i in ids]


def _generated_here(
    catalog: CatalogStore,
    generator: QueryGenerator,
    batches: list[list[str]],
    targets: dict[str, WindowTarget],
    per_episode: int,
    seed: int,
) -> Generated:
    """``(ids, one list of queries per episode or window)`` per batch, generated in this
    process."""
    for ids in batches:
        batch = _records(catalog, ids, targets)
        yield ids, generator.generate(batch, per_episode, batch_seed(seed, ids))


def _generated_on_ray(
    catalog: CatalogStore,
    generator: Any,
    batches: list[list[str]],
    targets: dict[str, WindowTarget],
    per_episode: int,
    seed: int,
) -> Generated:
    """The same batches with the same seeds, generated by a Ray cluster's actors
    (:class:`podseek.scale.ray_jobs.RayGenerator`), in the same order."""

    def work() -> Iterator[tuple[list[Episode], int]]:
        for ids in batches:
            yield _records(catalog, ids, targets), batch_seed(seed, ids)

    for k, queries in generator.generate_batches(work(), len(batches), per_episode):
        yield batches[k], queries


def filter_queries(
    catalog: CatalogStore,
    store: QueryStore,
    query_filter: QueryFilter,
    round_trip: RoundTrip | None = None,
    progress: bool = True,
    window_round_trip: RoundTrip | None = None,
) -> FilterReport:
    """Filter every raw query of the catalog's current episodes and windows into the
    ``synthetic`` pairs.

    A window's queries are filtered against the window's record (its words, its episode's
    titles) and kept only while that window is still in the catalog's transcripts. The round
    trip checks an episode's queries with ``round_trip`` (over the index) and a window's with
    ``window_round_trip`` (over the segment index); without the latter, window queries pass
    unchecked and are counted in the report (``round_trip_unchecked``).

    The pairs are replaced as a whole, so filtering again with other settings gives the same
    result as filtering once. Queries of episodes no longer in the catalog are left out.
    """
    generated = store.generated()
    episodes = catalog.get_many(list(generated))
    windows = find_windows(catalog, [i for i in generated if i not in episodes])
    items = [
        (episodes[i] if i in episodes else windows[i].record, generated[i])
        for i in generated
        if i in episodes or i in windows
    ]
    report = FilterReport()
    if progress and round_trip is not None:
        tqdm.write(
            f"Round-trip check of the queries of {len(items) - len(windows):,} episodes"
            + (f" and {len(windows):,} windows..." if windows else "..."),
            sys.stderr,
        )
    check = None
    if round_trip is not None:

        def check(queries: list[str], ids: list[str]) -> list[bool]:
            found = [True] * len(ids)
            for checker, wanted in ((round_trip, False), (window_round_trip, True)):
                positions = [k for k, i in enumerate(ids) if (i in windows) == wanted]
                if not positions:
                    continue
                if checker is None:  # no segment index to check windows with
                    report.round_trip_unchecked += len(positions)
                    continue
                results = checker([queries[k] for k in positions], [ids[k] for k in positions])
                for k, ok in zip(positions, results, strict=True):
                    found[k] = ok
            return found

    pairs = query_filter.apply(items, report, check)
    report.window_queries = sum(len(generated[i]) for i in windows)
    report.window_kept = sum(1 for _, target in pairs if target in windows)
    store.replace_pairs(SYNTHETIC, pairs)
    store.set_meta("filter_report", report.to_dict())
    return report
