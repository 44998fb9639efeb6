"""The index stage: catalog + encoder -> a searchable index in the workspace, kept in step.

The index folder holds ``manifest.json`` (which model and text recipe built the index, which
table is current, and which backend holds it) and, for the LanceDB backend, the LanceDB
database; the Milvus backend keeps the table as a collection on a Milvus server. Writes are
safe to interrupt:

- An update with the same model and recipe encodes only records whose content hash changed
  (new or edited) and deletes records gone from the catalog; a rerun after a crash picks up
  where it stopped, since every encoded chunk is committed as it goes.
- A different model or recipe builds a new table beside the current one; the manifest is
  switched to it (atomic rename) only when it is complete, and the old table is then
  dropped. Until then, searches keep using the old table.
- A different backend (or Milvus server, or collection prefix) is a rebuild in the same way;
  the table in the old backend is left as it was (``podseek migrate`` copies an index from
  one backend to the other without encoding it again).
"""

import fcntl
import hashlib
import os
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
from pydantic import BaseModel
from tqdm import tqdm

from podseek.catalog.episode import TEXT_RECIPE, Episode, episode_text
from podseek.catalog.store import CatalogStore
from podseek.catalog.windows import (
    WINDOW_RECIPE,
    transcript_windows,
    window_hash,
    window_id,
    window_text,
)
from podseek.errors import PodseekError, Unavailable
from podseek.index.backends import (
    BackendOptions,
    milvus_collection_name,
    milvus_prefix,
    open_backend,
)
from podseek.index.base import AnnSettings, IndexRow, SearchBackend, chunks
from podseek.index.milvus_backend import redact
from podseek.index.snapshot import SNAPSHOTS, SnapshotSettings, readable, refresh
from podseek.index.snapshot_backend import SnapshotBackend
from podseek.models.base import Encoder

if TYPE_CHECKING:
    from podseek.config import Settings

MANIFEST = "manifest.json"
WRITE_LOCK = ".write.lock"
FORMAT_VERSION = 1


class ModelInfo(BaseModel):
    name: str
    fingerprint: str
    dimension: int


class TextInfo(BaseModel):
    recipe: str
    max_chars: int


class IndexManifest(BaseModel):
    """What built an index; stored beside it and checked before every search."""

    format: int = FORMAT_VERSION
    backend: str = "lancedb"
    uri: str | None = None  # the Milvus server, any password masked; never the token
    collection: str | None = None  # the Milvus collection that holds the table
    table: str
    model: ModelInfo
    text: TextInfo
    metric: str = "cosine"
    rows: int = 0
    vector_index: str = "exact"
    # the serving snapshot of this version (a folder in <index>/snapshots); LanceDB only
    snapshot: str | None = None
    built_at: str
    updated_at: str
    versions: dict[str, str] = {}


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def package_versions() -> dict[str, str]:
    names = ("podseek", "lancedb", "pymilvus", "sentence-transformers", "torch")
    found = {}
    for name in names:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found


def model_info(encoder: Encoder) -> ModelInfo:
    return ModelInfo(
        name=encoder.name,
        fingerprint=getattr(encoder, "fingerprint", encoder.name),
        dimension=encoder.dimension,
    )


def _table_name(model: ModelInfo, text: TextInfo) -> str:
    key = f"{model.fingerprint}|{model.dimension}|{text.recipe}|{text.max_chars}"
    return "episodes_" + hashlib.sha1(key.encode()).hexdigest()[:12]


def index_record(model: ModelInfo, text: TextInfo) -> dict[str, str]:
    """What built a table, as a Milvus collection keeps it (opening with another is refused)."""
    return {
        "model": model.name,
        "fingerprint": model.fingerprint,
        "text_recipe": text.recipe,
        "text_max_chars": str(text.max_chars),
    }


def open_table(
    folder: Path,
    table: str,
    model: ModelInfo,
    text: TextInfo,
    options: BackendOptions,
    ann: AnnSettings | None = None,
) -> SearchBackend:
    """Open (or create) index table ``table`` in the backend ``options`` choose."""
    return open_backend(
        options.kind or "lancedb",
        folder=folder,
        table=table,
        dimension=model.dimension,
        ann=ann,
        milvus_uri=options.milvus_uri,
        milvus_token=options.token,
        milvus_collection=options.collection,
        record=index_record(model, text),
    )


def _known_uri(uri: str | None) -> str | None:
    """A manifest's server address, unless its password was masked when it was written."""
    return uri if uri and "***@" not in uri else None


def manifest_options(manifest: IndexManifest, options: BackendOptions) -> BackendOptions:
    """Where the manifest's table lives: its backend, collection and server, not the current
    ``backend`` setting; the server's address and token come from ``options`` when set."""
    if manifest.backend != "milvus":
        return BackendOptions(kind=manifest.backend)  # type: ignore[arg-type]
    return BackendOptions(
        kind="milvus",
        uri=options.uri or _known_uri(manifest.uri),
        token=options.token,
        collection=milvus_prefix(manifest.collection, manifest.table),
    )


def location(options: BackendOptions, table: str) -> tuple[str, str | None, str | None]:
    """``(backend, server, collection)`` as the manifest records them."""
    if options.kind != "milvus":
        return options.kind or "lancedb", None, None
    return "milvus", redact(options.milvus_uri), milvus_collection_name(table, options.collection)


@contextmanager
def write_lock(folder: Path) -> Iterator[None]:
    """One writer of the index in ``folder`` at a time, across processes."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / WRITE_LOCK).open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def read_manifest(folder: Path) -> IndexManifest | None:
    path = Path(folder) / MANIFEST
    if not path.exists():
        return None
    try:
        return IndexManifest.model_validate_json(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise PodseekError(f"{path}: unreadable index manifest ({error}); rebuild it") from error


def write_manifest(folder: Path, manifest: IndexManifest) -> None:
    """Replace the manifest in one rename: a reader sees the old one or the new one."""
    path = folder / MANIFEST
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(manifest.model_dump_json(indent=2), encoding="utf-8")
    os.replace(tmp, path)


@dataclass
class IndexReport:
    """What one ``podseek index`` run did."""

    model: str
    table: str
    rebuilt: bool
    encoded: int
    removed: int
    unchanged: int
    rows: int
    vector_index: str
    encode_seconds: float
    seconds: float
    size_bytes: int
    backend: str = "lancedb"  # where the index lives: "lancedb" or "milvus at URI"
    device: str = "cpu"  # what encoded the episodes: "cuda:0 (NVIDIA H200, bf16)"
    snapshot_seconds: float = 0.0  # writing the serving snapshot

    @property
    def episodes_per_second(self) -> float:
        return self.encoded / self.encode_seconds if self.encode_seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        data = dict(vars(self))
        data["episodes_per_second"] = round(self.episodes_per_second, 1)
        data["encode_seconds"] = round(self.encode_seconds, 2)
        data["seconds"] = round(self.seconds, 2)
        data["snapshot_seconds"] = round(self.snapshot_seconds, 2)
        return data


def encoder_device(encoder: Encoder) -> str:
    """Where an encoder runs, as stage records say it (the CPU for the numpy engines), and
    through ONNX Runtime where its episode engine is."""
    device = getattr(encoder, "device", None)
    where = device.describe() if hasattr(device, "describe") else "cpu"
    if getattr(encoder, "episode_engine", None) is not None:
        return f"{where} through ONNX Runtime"
    return where


# (ids, episodes, texts, vectors, seconds spent encoding) per chunk
Encoded = Iterator[tuple[list[str], dict[str, Episode], list[str], np.ndarray, float]]


class IndexRecords(Protocol):
    """What an index holds, read from the catalog: one record per episode
    (:class:`EpisodeRecords`), or per window of a transcript (:class:`WindowRecords`, the
    segment index). Each record is an :class:`Episode` (the window's carries its episode's
    fields under the window's id, for the filters) and the text that is encoded."""

    recipe: str  # the text recipe, part of the table's identity
    max_chars: int
    unit: str  # what one record is, for progress bars and reports

    def content_hashes(self) -> dict[str, str]:
        """``{id: content hash}`` of every record the index should hold."""
        ...

    def read(self, ids: Sequence[str]) -> tuple[dict[str, Episode], list[str]]:
        """The records of ``ids`` and the encoder text of each, in ``ids``' order."""
        ...


def chunk_texts(
    catalog: CatalogStore, ids: Sequence[str], text_max_chars: int
) -> tuple[dict[str, Episode], list[str]]:
    """A chunk's episodes, read from the catalog, and the encoder text of each, in ``ids``'
    order."""
    episodes = catalog.get_many(list(ids))
    return episodes, [episode_text(episodes[i], text_max_chars) for i in ids]


class EpisodeRecords:
    """The catalog's episodes, each as :func:`episode_text` gives it."""

    recipe = TEXT_RECIPE
    unit = "episodes"

    def __init__(self, catalog: CatalogStore, max_chars: int) -> None:
        self.catalog = catalog
        self.max_chars = max_chars

    def content_hashes(self) -> dict[str, str]:
        return self.catalog.content_hashes()

    def read(self, ids: Sequence[str]) -> tuple[dict[str, Episode], list[str]]:
        return chunk_texts(self.catalog, ids, self.max_chars)


class WindowRecords:
    """The windows of the catalog's transcripts (:mod:`podseek.catalog.windows`), each with
    its episode's show and title in front; read once, when the build starts."""

    recipe = WINDOW_RECIPE
    unit = "segments"

    def __init__(self, catalog: CatalogStore, max_chars: int) -> None:
        self.max_chars = max_chars
        self._records: dict[str, tuple[Episode, str, str]] = {}
        for episode, episode_hash, segments in catalog.iter_transcripts():
            for window in transcript_windows(segments):
                record_id = window_id(episode.id, window)
                text = window_text(episode, window, max_chars)
                self._records[record_id] = (
                    episode.model_copy(update={"id": record_id}),
                    text,
                    window_hash(episode_hash, text),
                )

    def content_hashes(self) -> dict[str, str]:
        return {i: record[2] for i, record in self._records.items()}

    def read(self, ids: Sequence[str]) -> tuple[dict[str, Episode], list[str]]:
        return {i: self._records[i][0] for i in ids}, [self._records[i][1] for i in ids]


class ChunkEncoding(Protocol):
    """How :func:`build_index` encodes the chunks of record ids it has to (re)encode.

    Called once per build with the chunks, in the order their results are committed; yields
    per chunk, in that order, what :data:`Encoded` says. The index never imports an
    encoding: the caller passes one in (the command line passes Ray's for ``--ray``).
    """

    def __call__(
        self, records: IndexRecords, parts: Sequence[list[str]], batch_size: int
    ) -> Encoded: ...

    def describe(self) -> str:
        """What encoded, for the report: ``cuda:0 (NVIDIA H200, bf16)``."""
        ...


class LocalEncoding:
    """Each chunk encoded in this process, by ``encoder``."""

    def __init__(self, encoder: Encoder) -> None:
        self.encoder = encoder

    def __call__(
        self, records: IndexRecords, parts: Sequence[list[str]], batch_size: int
    ) -> Encoded:
        for ids in parts:
            episodes, texts = records.read(ids)
            tick = time.perf_counter()
            vectors = self.encoder.encode_episodes(texts, batch_size=batch_size)
            yield ids, episodes, texts, vectors, time.perf_counter() - tick

    def describe(self) -> str:
        return encoder_device(self.encoder)


def keep_snapshot(
    folder: Path,
    kind: str,
    store: SearchBackend,
    current: IndexManifest | None,
    ann: AnnSettings,
    changed: bool,
) -> str | None:
    """The serving snapshot of ``store`` (in backend ``kind``) as it is now: its folder's
    name, written when the table ``changed`` or has none yet; ``None`` for a Milvus index or
    with snapshots off (whose old snapshot folders are then removed)."""
    root = folder / SNAPSHOTS
    if not (ann.snapshot and kind == "lancedb"):
        shutil.rmtree(root, ignore_errors=True)
        return None
    previous = current.snapshot if current is not None else None
    fresh = previous is not None and current.table == store.table_name
    if fresh and not changed and readable(root / previous):
        return previous
    return refresh(root, store, previous, SnapshotSettings(ann_min_rows=ann.min_rows))


def build_index(
    catalog: CatalogStore,
    encoder: Encoder,
    folder: Path,
    text_max_chars: int,
    ann: AnnSettings | None = None,
    chunk_size: int = 512,
    batch_size: int = 32,
    progress: bool | None = None,
    backend: BackendOptions | None = None,
    encoding: ChunkEncoding | None = None,
    records: IndexRecords | None = None,
) -> IndexReport:
    """Bring the index in ``folder`` in step with ``catalog``, encoding with ``encoder``.

    Args:
        catalog: the episode catalog.
        encoder: the model that encodes episodes (and later queries).
        folder: the index folder (created when missing).
        text_max_chars: the cap of :func:`episode_text`; part of the recipe.
        ann: vector index settings.
        chunk_size: records encoded and committed together (what a crash can lose).
        batch_size: the encoder's batch size.
        progress: show a progress bar; ``None`` shows one only on a terminal.
        backend: where the index lives; unset (the default), an existing index stays in
            its backend and a new one goes to LanceDB. Another backend than the manifest's
            is a rebuild there.
        encoding: how the chunks are encoded; unset, by ``encoder`` in this process
            (:class:`LocalEncoding`). Another strategy, such as a Ray cluster's actors
            (:class:`podseek.scale.ray_jobs.RayEncoding`), gets the same chunks and its
            results are committed in the same order; ``encoder`` then only names the model.
        records: what the index holds; unset, the catalog's episodes
            (:class:`EpisodeRecords`); :class:`WindowRecords` for the segment index.
    """
    started = time.perf_counter()
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model = model_info(encoder)
    records = records or EpisodeRecords(catalog, text_max_chars)
    text = TextInfo(recipe=records.recipe, max_chars=records.max_chars)
    table = _table_name(model, text)
    current = read_manifest(folder)
    options = backend or BackendOptions()
    kind = options.kind or (current.backend if current else "lancedb")
    if current is not None and kind == current.backend == "milvus" and options.uri is None:
        options = replace(options, uri=_known_uri(current.uri))  # stay on the same server
    options = options.to(kind)  # type: ignore[arg-type]
    where = location(options, table)
    rebuilt = (
        current is None
        or current.table != table
        or (current.backend, current.uri, current.collection) != where
    )

    store = open_table(folder, table, model, text, options, ann)
    try:
        wanted = records.content_hashes()
        stored = store.content_hashes()
        to_encode = sorted(i for i, h in wanted.items() if stored.get(i) != h)
        to_remove = [i for i in stored if i not in wanted]

        encode_seconds = 0.0
        bar = tqdm(
            total=len(to_encode),
            desc=f"index ({encoder.name})",
            unit=f" {records.unit}",
            disable=None if progress is None else not progress,
            leave=False,
        )
        parts = list(chunks(to_encode, chunk_size))
        encoding = encoding or LocalEncoding(encoder)
        encoded = encoding(records, parts, batch_size)
        with bar:
            for ids, episodes, texts, vectors, seconds in encoded:
                encode_seconds += seconds
                store.upsert(
                    [
                        IndexRow(episodes[i], t, wanted[i], np.asarray(v))
                        for i, t, v in zip(ids, texts, vectors, strict=True)
                    ]
                )
                bar.update(len(ids))
        store.delete(to_remove)
        built = store.optimize() if (to_encode or to_remove or rebuilt) else {}
        rows = store.count()
        vector_index = built.get("vector_index") or (current.vector_index if current else "exact")
        tick = time.perf_counter()
        snapshot = keep_snapshot(
            folder, where[0], store, current, ann or AnnSettings(), changed=bool(built)
        )
        snapshot_seconds = time.perf_counter() - tick

        now = now_iso()
        manifest = IndexManifest(
            backend=where[0],
            uri=where[1],
            collection=where[2],
            table=table,
            model=model,
            text=text,
            rows=rows,
            vector_index=vector_index,
            snapshot=snapshot,
            built_at=now if rebuilt or current is None else current.built_at,
            updated_at=now,
            versions=package_versions(),
        )
        write_manifest(folder, manifest)
        if rebuilt:
            store.drop_other_tables()
        return IndexReport(
            model=encoder.name,
            table=table,
            rebuilt=rebuilt,
            encoded=len(to_encode),
            removed=len(to_remove),
            unchanged=len(wanted) - len(to_encode),
            rows=rows,
            vector_index=vector_index,
            encode_seconds=encode_seconds,
            seconds=time.perf_counter() - started,
            size_bytes=store.size_bytes(),
            backend=options.describe(),
            device=encoding.describe(),
            snapshot_seconds=snapshot_seconds,
        )
    finally:
        store.close()


class EpisodeIndex:
    """A built index, opened for searching: its manifest and the backend the manifest names.

    :meth:`open` opens one with podseek's settings (what every command and the server
    use); the constructor is the low-level way, with the options given.

    Args:
        folder: the index folder.
        ann: vector index settings.
        backend: how to reach a Milvus server (address, token), for an index that lives
            in one; the ``backend`` setting itself is not used (the manifest says where the
            index is). Unset, podseek's settings.
    """

    def __init__(
        self,
        folder: Path,
        ann: AnnSettings | None = None,
        backend: BackendOptions | None = None,
    ) -> None:
        self.folder = Path(folder)
        manifest = read_manifest(self.folder)
        if manifest is None:
            raise PodseekError(f"no index at {self.folder}; run `podseek index` first")
        if manifest.format != FORMAT_VERSION:
            raise PodseekError(
                f"{self.folder}: index format {manifest.format}, this podseek reads "
                f"{FORMAT_VERSION}; run `podseek index` to rebuild it"
            )
        self.manifest = manifest
        if backend is None and manifest.backend == "milvus":
            from podseek.config import get_settings

            backend = BackendOptions.from_settings(get_settings())
        options = manifest_options(manifest, backend or BackendOptions())
        self.backend = open_table(
            self.folder, manifest.table, manifest.model, manifest.text, options, ann
        )
        snapshots = self.folder / SNAPSHOTS
        if (
            (ann or AnnSettings()).snapshot
            and manifest.backend == "lancedb"
            and manifest.snapshot is not None
            and (snapshots / manifest.snapshot).is_dir()  # else LanceDB answers, as before
        ):
            self.backend = SnapshotBackend(self.backend, snapshots, manifest.snapshot, ann)

    @classmethod
    def open(cls, settings: "Settings", folder: Path | None = None) -> "EpisodeIndex":
        """The index in ``folder`` (the workspace's, ``settings.index_dir``, by default),
        searched with the ANN settings (``PODSEEK_ANN_*``) and reached with the backend
        options (``PODSEEK_MILVUS_*``) of ``settings``."""
        return cls(
            settings.index_dir if folder is None else folder,
            AnnSettings.from_settings(settings),
            BackendOptions.from_settings(settings),
        )

    def check_encoder(self, encoder: Encoder) -> None:
        """Refuse to search with a model other than the one that built the index."""
        built = self.manifest.model
        used = model_info(encoder)
        if used.name != built.name or used.fingerprint != built.fingerprint:
            raise PodseekError(
                f"the index was built with model {built.name!r}; search it with that model, "
                f"or rebuild it with `podseek index --model {used.name}`"
            )

    def close(self) -> None:
        self.backend.close()


def open_ensemble_indexes(
    settings: "Settings", main: IndexManifest, note: Callable[[str], None]
) -> list[EpisodeIndex]:
    """The indexes of the ensemble models (``PODSEEK_ENSEMBLE_MODEL``) that ``podseek index``
    keeps beside the workspace's index, whose manifest is ``main``, in the setting's order.
    One that is missing or holds other episodes than the workspace's (an index older than the
    setting, or one rebuilt with the setting off) is left out, and ``note`` hears why: the
    search goes on with the others."""
    indexes = []
    for model, folder in settings.ensembles_for(main.model.name):
        try:
            indexes.append(_ensemble_index(settings, main, model, folder))
        except Unavailable as missing:
            note(f"searching without {model}: {missing}")
    return indexes


def _ensemble_index(
    settings: "Settings", main: IndexManifest, model: str, folder: Path
) -> EpisodeIndex:
    """``model``'s index in ``folder``, if it is there and holds the index's episodes."""
    manifest = read_manifest(folder)
    rebuild = "run `podseek index` to build it (or leave it out of PODSEEK_ENSEMBLE_MODEL)"
    if manifest is None or manifest.model.name != model:
        raise Unavailable(f"no {model} index in {folder}; {rebuild}")
    if main.rows != manifest.rows:
        raise Unavailable(
            f"its index in {folder} holds {manifest.rows:,} episodes and the index "
            f"{main.rows:,}; {rebuild}"
        )
    return EpisodeIndex.open(settings, folder)


def open_segment_index(settings: "Settings", main: IndexManifest) -> EpisodeIndex | None:
    """The segment index (the windows of the catalog's transcripts) that ``podseek index``
    keeps beside the workspace's index, whose manifest is ``main``; ``None`` when segments
    are off or no transcript was indexed. :class:`Unavailable` when it was built by another
    model than the index (the caller searches episodes only and says why)."""
    if not settings.segments:
        return None
    folder = settings.segments_index_dir
    manifest = read_manifest(folder)
    if manifest is None or manifest.rows == 0:
        return None
    if (manifest.model.name, manifest.model.fingerprint) != (
        main.model.name,
        main.model.fingerprint,
    ):
        raise Unavailable(
            f"the segment index in {folder} was built with {manifest.model.name} and the "
            f"index with {main.model.name}; run `podseek index` to rebuild it"
        )
    return EpisodeIndex.open(settings, folder)
