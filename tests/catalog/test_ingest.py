"""Re-ingesting is idempotent, --replace drops what a source lost, interruptions lose nothing."""

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from podseek.catalog.build import RawEpisode, Skip
from podseek.catalog.ingest import ingest
from podseek.catalog.sources.listennotes import ListenNotesSource
from podseek.catalog.store import CatalogStore, catalog_revision
from podseek.errors import PodseekError

FIXTURES = Path(__file__).resolve().parent / "fixtures"


class ListSource:
    """A source over raw records in memory, optionally failing after some of them."""

    kind = "test"
    location = "memory"

    def __init__(self, raws: list[RawEpisode], name: str = "mem", fail_after: int | None = None):
        self.raws, self.name, self.fail_after = raws, name, fail_after

    def total(self) -> int | None:
        return len(self.raws)

    def records(self) -> Iterator[RawEpisode | Skip]:
        for i, raw in enumerate(self.raws):
            if self.fail_after is not None and i == self.fail_after:
                raise KeyboardInterrupt
            yield raw


def raw(n: int, title: str | None = None) -> RawEpisode:
    return RawEpisode(
        native_id=str(n),
        show_title="Show",
        episode_title=title or f"Episode {n}",
        episode_description=f"What episode {n} is about, in a few words.",
        language="en",
    )


def test_reingest_is_idempotent_and_merges_changes(store: CatalogStore) -> None:
    first = ingest(store, ListSource([raw(1), raw(2), raw(3)]), progress=False)
    assert (first.added, first.updated, first.unchanged) == (3, 0, 0)
    hashes = store.content_hashes()

    again = ingest(store, ListSource([raw(1), raw(2), raw(3)]), progress=False)
    assert (again.added, again.updated, again.unchanged) == (0, 0, 3)
    assert store.content_hashes() == hashes

    changed = ingest(store, ListSource([raw(1), raw(2, "Renamed"), raw(4)]), progress=False)
    assert (changed.added, changed.updated, changed.unchanged, changed.removed) == (1, 1, 1, 0)
    assert store.get("mem:2").episode_title == "Renamed"
    assert store.count() == 4  # episode 3 stays: feeds roll old items off, that is no delete


def test_the_revision_counts_writes_that_change_records(tmp_path: Path) -> None:
    """What the server compares to rebuild suggestions and the speller: reads, a re-ingest
    that changes nothing and SQLite's checkpoints leave it; adding, editing and deleting
    move it."""
    path = tmp_path / "catalog.sqlite"
    assert catalog_revision(path) is None and not path.exists()  # checking creates nothing
    with CatalogStore(path) as store:
        assert catalog_revision(path) == 0
        ingest(store, ListSource([raw(1), raw(2)]), progress=False)
        first = catalog_revision(path)
        ingest(store, ListSource([raw(1), raw(2)]), progress=False)
        store.get("mem:1"), store.stats()
        with CatalogStore(path) as reader:  # another connection opens and closes the WAL
            reader.count()
        assert catalog_revision(path) == first
        ingest(store, ListSource([raw(1), raw(2, "Renamed")]), progress=False)
        edited = catalog_revision(path)
        assert edited > first
        store.delete(["mem:404"])
        assert catalog_revision(path) == edited
        store.delete(["mem:1"])
        assert catalog_revision(path) > edited
    assert catalog_revision(tmp_path) is None  # a folder is no catalog


def test_replace_removes_what_the_source_no_longer_has(store: CatalogStore) -> None:
    ingest(store, ListSource([raw(1), raw(2), raw(3)]), progress=False)
    ingest(store, ListSource([raw(9)], name="other"), progress=False)
    summary = ingest(store, ListSource([raw(1), raw(3)]), replace=True, progress=False)
    assert summary.removed == 1
    assert store.get("mem:2") is None
    assert store.count("mem") == 2
    assert store.count("other") == 1  # other sources are untouched


def test_replace_with_an_empty_source_is_refused(store: CatalogStore) -> None:
    ingest(store, ListSource([raw(1), raw(2)]), progress=False)
    with pytest.raises(PodseekError, match="refusing --replace"):
        ingest(store, ListSource([]), replace=True, progress=False)
    assert store.count() == 2


def test_interrupted_ingest_leaves_the_previous_catalog(store: CatalogStore) -> None:
    ingest(store, ListSource([raw(1), raw(2)]), progress=False)
    before = store.content_hashes()
    source = ListSource([raw(1, "Changed"), raw(5), raw(6), raw(7)], fail_after=3)
    with pytest.raises(KeyboardInterrupt):
        ingest(store, source, replace=True, progress=False)
    assert store.content_hashes() == before
    assert store.get("mem:1").episode_title == "Episode 1"
    assert len(store.stats()["ingests"]) == 1  # the interrupted ingest left no log either
    # and the store is still usable afterwards
    assert ingest(store, ListSource([raw(5)]), progress=False).added == 1


def test_killed_ingest_process_leaves_the_old_catalog_readable(tmp_path: Path) -> None:
    """SIGKILL in the middle of a large ingest: the catalog keeps its previous complete state."""
    home = tmp_path / "ws"
    env = {**os.environ, "PODSEEK_HOME": str(home)}
    cli = [sys.executable, "-m", "podseek"]
    subprocess.run(
        [*cli, "ingest", "listennotes", str(FIXTURES / "listennotes")], env=env, check=True
    )
    with CatalogStore(home / "catalog.sqlite") as catalog:
        before = catalog.content_hashes()

    big = tmp_path / "big.jsonl"
    with big.open("w") as handle:
        for n in range(200_000):
            handle.write(
                f'{{"id": "{n}", "title": "Episode {n} of a long archive", '
                f'"description": "Notes for episode {n}: guests, topics and links.", '
                f'"language": "en"}}\n'
            )
    process = subprocess.Popen(
        [
            *cli,
            "ingest",
            "table",
            str(big),
            "--map",
            "id=id,title=title,description=description",
            "--map",
            "language=language",
            "--source",
            "listennotes",
            "--replace",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wal = home / "catalog.sqlite-wal"
    deadline = time.monotonic() + 60
    # wait until the ingest has written uncommitted pages, then kill it without warning
    while time.monotonic() < deadline and process.poll() is None:
        if wal.exists() and wal.stat().st_size > 1_000_000:
            break
        time.sleep(0.05)
    assert process.poll() is None, "the ingest finished before it could be interrupted"
    process.send_signal(signal.SIGKILL)
    process.wait()

    with CatalogStore(home / "catalog.sqlite") as catalog:
        assert catalog.content_hashes() == before
        assert catalog.get("listennotes:1").episode_title == "Staying healthy over Christmas"
    integrity = sqlite3.connect(home / "catalog.sqlite").execute("PRAGMA integrity_check")
    assert integrity.fetchone()[0] == "ok"


def test_listennotes_reingest_after_an_edit(store: CatalogStore, tmp_path: Path) -> None:
    folder = tmp_path / "ln"
    shutil.copytree(FIXTURES / "listennotes", folder)
    ingest(store, ListenNotesSource(folder), progress=False)
    episodes = folder / "episodes.csv"
    episodes.write_text(episodes.read_text().replace("Bread basics", "Bread basics part 1"))
    summary = ingest(store, ListenNotesSource(folder), progress=False)
    assert (summary.added, summary.updated, summary.unchanged) == (0, 1, 3)
