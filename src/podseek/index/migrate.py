"""``podseek migrate``: move the workspace index to the other backend without encoding it again.

Every stored row (vector, display and filter fields, episode text, content hash) is read from
the backend the manifest names and written to the other one, in batches. The copy is safe to
interrupt: a rerun skips the rows the target already holds with the same content hash, so it
goes on where it stopped. The manifest is switched (one rename) only once the target holds
exactly the source's rows and its indexes are built; until then searches keep using the
source. The source's copy is left as it was: a migrate back copies only what changed since.
"""

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from podseek.catalog.episode import Episode
from podseek.errors import PodseekError
from podseek.index.backends import BACKENDS, BackendOptions, backend_choices
from podseek.index.base import AnnSettings, IndexRow, SearchBackend, chunks
from podseek.index.episode_index import (
    location,
    manifest_options,
    now_iso,
    open_table,
    package_versions,
    read_manifest,
    write_lock,
    write_manifest,
)

DEFAULT_BATCH = 1000


@dataclass
class MigrateReport:
    """What one ``podseek migrate`` run did."""

    source: str  # "lancedb" or "milvus at URI" (password masked)
    target: str
    table: str
    rows: int  # rows of the index, in both backends at the end
    copied: int  # rows written to the target by this run
    unchanged: int  # rows the target already held (an earlier, interrupted run)
    removed: int  # rows the target held that the source does not
    vector_index: str
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        data = dict(vars(self))
        data["seconds"] = round(self.seconds, 2)
        return data


def stored_rows(
    source: SearchBackend, ids: Sequence[str], hashes: dict[str, str]
) -> list[IndexRow]:
    """The rows of ``ids`` as ``source`` stores them, ready to write to another backend.

    The episode is rebuilt from the stored fields only: :meth:`IndexRow.fields` gives back
    exactly what was stored (categories are stored lowercased), and nothing else of an
    episode reaches a backend.
    """
    fields = source.fetch(ids)
    vectors = source.vectors(ids)
    rows = []
    for episode_id, vector in zip(ids, vectors, strict=True):
        stored = fields[episode_id]
        episode = Episode(
            id=episode_id,
            source=episode_id.partition(":")[0],
            show_id=stored["show_id"] or "",
            show_title=stored["show_title"] or "",
            episode_title=stored["episode_title"] or "",
            language=stored["language"] or "",
            categories=tuple(stored["categories"] or ()),
            published_at=stored["published_at"],
            duration_s=stored["duration_s"],
            audio_url=stored["audio_url"] or "",
            episode_url=stored["episode_url"] or "",
        )
        rows.append(IndexRow(episode, stored["text"] or "", hashes[episode_id], vector))
    return rows


def migrate_index(
    folder: Path,
    target: BackendOptions,
    ann: AnnSettings | None = None,
    batch: int = DEFAULT_BATCH,
    progress: bool | None = None,
    on_batch: Callable[[int, int], None] | None = None,
) -> MigrateReport:
    """Copy the index in ``folder`` to ``target.kind`` and switch the manifest to it.

    Args:
        folder: the index folder.
        target: the backend to move to, and how to reach a Milvus server (for either side:
            an index in Milvus is read from the server its manifest names unless
            ``target.uri`` is set).
        ann: vector index settings for the target's indexes.
        batch: rows read and written together.
        progress: show a progress bar; ``None`` shows one only on a terminal.
        on_batch: called with ``(rows copied, rows to copy)`` after every batch is written
            (an exception raised there stops the copy as an interruption would).
    """
    started = time.perf_counter()
    folder = Path(folder)
    if target.kind not in BACKENDS:
        raise PodseekError(f"unknown index backend {target.kind!r}; use {backend_choices()}")
    if batch < 1:
        raise PodseekError(f"--batch must be at least 1, not {batch}")
    with write_lock(folder):
        manifest = read_manifest(folder)
        if manifest is None:
            raise PodseekError(f"no index at {folder}; run `podseek index` first")
        source_options = manifest_options(manifest, target)
        if manifest.backend == target.kind:
            raise PodseekError(
                f"the index is already in {source_options.describe()}; nothing to migrate"
            )
        source = open_table(folder, manifest.table, manifest.model, manifest.text, source_options)
        try:
            hashes = source.content_hashes()
            if not hashes and manifest.rows:
                raise PodseekError(
                    f"{source_options.describe()} holds none of the index's {manifest.rows:,} "
                    f"rows (table {manifest.table!r}); rebuild it with `podseek index`"
                )
            store = open_table(folder, manifest.table, manifest.model, manifest.text, target, ann)
            try:
                copied, removed = _copy(source, store, hashes, batch, progress, on_batch)
                if store.count() != len(hashes) or store.content_hashes() != hashes:
                    raise PodseekError(
                        f"migration incomplete: {source_options.describe()} holds "
                        f"{len(hashes):,} rows, {target.describe()} {store.count():,}; the "
                        f"index stays in {manifest.backend} (run `podseek migrate` again)"
                    )
                built = store.optimize()
                where = location(target, manifest.table)
                switched = manifest.model_copy(
                    update={
                        "backend": where[0],
                        "uri": where[1],
                        "collection": where[2],
                        "rows": len(hashes),
                        "vector_index": built.get("vector_index", "exact"),
                        "updated_at": now_iso(),
                        "versions": package_versions(),
                    }
                )
                write_manifest(folder, switched)
            finally:
                store.close()
        finally:
            source.close()
    return MigrateReport(
        source=source_options.describe(),
        target=target.describe(),
        table=manifest.table,
        rows=len(hashes),
        copied=copied,
        unchanged=len(hashes) - copied,
        removed=removed,
        vector_index=switched.vector_index,
        seconds=time.perf_counter() - started,
    )


def _copy(
    source: SearchBackend,
    store: SearchBackend,
    hashes: dict[str, str],
    batch: int,
    progress: bool | None,
    on_batch: Callable[[int, int], None] | None,
) -> tuple[int, int]:
    """Write to ``store`` the rows it lacks or holds with another hash, drop those it should
    not hold; returns ``(copied, removed)``."""
    present = store.content_hashes()
    to_copy = sorted(i for i, h in hashes.items() if present.get(i) != h)
    to_remove = [i for i in present if i not in hashes]
    bar = tqdm(
        total=len(to_copy),
        desc="migrate",
        unit=" rows",
        disable=None if progress is None else not progress,
        leave=False,
    )
    copied = 0
    with bar:
        for chunk in chunks(to_copy, batch):
            store.upsert(stored_rows(source, chunk, hashes))
            copied += len(chunk)
            bar.update(len(chunk))
            if on_batch is not None:
                on_batch(copied, len(to_copy))
    store.delete(to_remove)
    return copied, len(to_remove)
