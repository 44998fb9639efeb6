"""Ingest throughput and skipped rows by reason for every dataset in the shared data folder.

Each dataset is ingested into a fresh temporary catalog, then once more (the idempotent
re-ingest, which only compares content hashes). Prints a Markdown table.

    python benchmarks/ingest_throughput.py --data ../shared/data
"""

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from podseek.catalog.ingest import ingest
from podseek.catalog.sources import Source
from podseek.catalog.sources.feeds import FeedSource
from podseek.catalog.sources.listennotes import ListenNotesSource
from podseek.catalog.sources.table import TableMapping, TableSource
from podseek.catalog.store import CatalogStore


def datasets(data: Path) -> dict[str, Callable[[], list[Source]]]:
    """Dataset name -> a function making its sources (readers open files when made)."""

    def table(path: str, mapping: str) -> Callable[[], list[Source]]:
        return lambda: [TableSource(data / path, TableMapping.load(mapping))]

    return {
        "listennotes-dec2017": lambda: [ListenNotesSource(data / "listennotes-dec2017")],
        "rss-feeds (8 files)": lambda: [
            FeedSource(str(p)) for p in sorted((data / "rss-feeds").glob("*.xml"))
        ],
        "taddy-episodes-2023": table("taddy-episodes-2023/podcastepisode.gz.parquet", "taddy"),
        "sommar-i-p1": table("sommar-i-p1/episodes.csv", "sommar-i-p1"),
        "podcastindex-feeds": table("podcastindex-feeds/feeds.csv", "podcastindex"),
        "all-podcasts-2014": table("all-podcasts-2014/shows.tsv", "all-podcasts-2014"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    args = parser.parse_args()
    print("| dataset | rows read | kept | skipped (by reason) | s | rows/s | re-ingest rows/s |")
    print("|---|---:|---:|---|---:|---:|---:|")
    for name, make in datasets(args.data).items():
        with tempfile.TemporaryDirectory() as tmp, CatalogStore(Path(tmp) / "c.sqlite") as store:
            runs = []
            for _ in range(2):
                started = time.perf_counter()
                summaries = [ingest(store, source, progress=False) for source in make()]
                runs.append((summaries, time.perf_counter() - started))
            (first, seconds), (_, again) = runs
            read = sum(s.read for s in first)
            kept = sum(s.kept for s in first)
            skipped: dict[str, int] = {}
            for summary in first:
                for reason, n in summary.skipped.items():
                    skipped[reason] = skipped.get(reason, 0) + n
            reasons = "; ".join(f"{n:,} {r}" for r, n in skipped.items()) or "none"
            print(
                f"| {name} | {read:,} | {kept:,} | {reasons} | {seconds:.1f} | "
                f"{read / seconds:,.0f} | {read / again:,.0f} |"
            )


if __name__ == "__main__":
    main()
