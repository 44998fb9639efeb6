"""Episodes per second of the index and generate stages in one process and on Ray (a local
cluster of CPU actors, one model each), on real Listen Notes episodes.

The same library calls as ``podseek index`` and ``podseek queries generate`` with and without
``--ray local``: ``build_index`` (e5-small, 512-episode chunks) and ``generate_queries``
(Gemma-3-270M, transformers engine, 3 queries an episode, batches of 8). Ray's times count
from the first chunk sent to the last one committed: the actors' start and model loads are
in them, the cluster's own start (printed apart) is not. The vectors of both runs are
compared (lowest cosine), and so are the queries.

    python benchmarks/ray_throughput.py --data ../shared/data --episodes 1000 --generate 16
"""

import argparse
import logging
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from podseek.catalog.ingest import ingest
from podseek.catalog.sources.listennotes import ListenNotesSource
from podseek.catalog.store import CatalogStore
from podseek.index.episode_index import EpisodeIndex, build_index
from podseek.models.registry import load_encoder
from podseek.queries.generate import generate_queries
from podseek.queries.generators import load_generator
from podseek.queries.store import QueryStore
from podseek.scale.ray_jobs import RayEncoding, RayGenerator, RayOptions


def sample_catalog(data: Path, path: Path, episodes: int) -> CatalogStore:
    """``episodes`` Listen Notes episodes (a seeded sample) in a catalog of their own."""
    with tempfile.TemporaryDirectory() as tmp, CatalogStore(Path(tmp) / "all.sqlite") as full:
        ingest(full, ListenNotesSource(data / "listennotes-dec2017"), progress=False)
        everything = sorted(full.content_hashes())
        chosen = np.random.default_rng(0).choice(len(everything), episodes, replace=False)
        picked = full.get_many([everything[i] for i in sorted(chosen)])
    catalog = CatalogStore(path)
    with catalog.write("listennotes") as write:
        for episode in picked.values():
            write.upsert(episode)
    return catalog


def vectors(folder: Path) -> dict[str, np.ndarray]:
    index = EpisodeIndex(folder)
    ids, matrix = index.backend.all_vectors()
    index.close()
    return dict(zip(ids, matrix, strict=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--episodes", type=int, default=1000, help="Episodes to encode.")
    parser.add_argument("--generate", type=int, default=16, help="Episodes to generate for.")
    parser.add_argument("--model", default="e5-small")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import ray

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        catalog = sample_catalog(args.data, home / "catalog.sqlite", args.episodes)
        encoder = load_encoder(args.model, home)  # expands e5-small into the workspace once
        one = build_index(catalog, encoder, home / "one", 2000, progress=False)
        rows.append(("encode", f"{args.model}, 1 process", one.encoded, one.encode_seconds))

        tick = time.perf_counter()
        ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False,
                 logging_level=logging.ERROR)  # fmt: skip
        started = time.perf_counter() - tick
        cpus = int(ray.cluster_resources()["CPU"])
        local = RayOptions(address="local", device="cpu")
        job = RayEncoding.for_model(local, args.model, home)
        on_ray = build_index(catalog, encoder, home / "ray", 2000, progress=False, encoding=job)
        label = f"{args.model}, Ray local ({cpus} CPU actors)"
        rows.append(("encode", label, on_ray.encoded, on_ray.encode_seconds))
        mine, theirs = vectors(home / "one"), vectors(home / "ray")
        lowest = min(float(np.dot(mine[i], theirs[i])) for i in mine)

        same = None
        if args.generate:
            options = {"engine": "transformers"}
            with QueryStore(home / "one.sqlite") as store:
                tick = time.perf_counter()
                generator = load_generator("gemma-270m", models_dir=home / "models", **options)
                loaded = time.perf_counter() - tick
                report = generate_queries(
                    catalog, store, generator, limit=args.generate, batch_size=8, progress=False
                )
                expected = store.generated()
                del generator
            label = f"gemma-270m transformers, 1 process (+{loaded:.0f} s load)"
            rows.append(("generate", label, report.generated, report.seconds))
            with QueryStore(home / "ray.sqlite") as store:
                generator = RayGenerator("gemma-270m", home, local, **options)
                report = generate_queries(
                    catalog, store, generator, limit=args.generate, batch_size=8, progress=False
                )
                same = store.generated() == expected
            label = f"gemma-270m transformers, Ray local ({report.device.split(',')[0][5:]})"
            rows.append(("generate", label, report.generated, report.seconds))
        ray.shutdown()
        catalog.close()

    print(f"Ray local cluster start: {started:.1f} s (not in the times below)")
    print("| stage | run | episodes | seconds | episodes/s |")
    print("|---|---|---:|---:|---:|")
    for stage, label, count, seconds in rows:
        print(f"| {stage} | {label} | {count:,} | {seconds:,.1f} | {count / seconds:,.2f} |")
    print(f"lowest cosine, Ray vs one process: {lowest:.6f}")
    if same is not None:
        print(f"same queries on Ray as in one process (seeded batches): {same}")


if __name__ == "__main__":
    main()
