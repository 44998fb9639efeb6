"""The index stage: catalog + encoder -> a searchable index in the workspace, kept in step.

The index folder holds ``manifest.json`` (which model and text recipe built the index, which
table is current) and a LanceDB database. Writes are safe to interrupt:

- An update with the same model and recipe encodes only records whose content hash changed
  (new or edited) and deletes records gone from the catalog; a rerun after a crash picks up
  where it stopped, since every encoded chunk is committed as it goes.
- A different model or recipe builds a new table beside the current one; the manifest is
  switched to it (atomic rename) only when it is complete, and the old table is then
  dropped. Until then, searches keep using the old table.
"""

import hashlib
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel
from tqdm import tqdm

from podseek.catalog.episode import TEXT_RECIPE, episode_text
from podseek.catalog.store import CatalogStore
from podseek.errors import PodseekError
from podseek.index.base import IndexRow
from podseek.index.lancedb_backend import AnnSettings, LanceDBBackend
from podseek.models.base import Encoder

MANIFEST = "manifest.json"
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
    table: str
    model: ModelInfo
    text: TextInfo
    metric: str = "cosine"
    rows: int = 0
    vector_index: str = "exact"
    built_at: str
    updated_at: str
    versions: dict[str, str] = {}


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _versions() -> dict[str, str]:
    names = ("podseek", "lancedb", "sentence-transformers", "torch")
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


def read_manifest(folder: Path) -> IndexManifest | None:
    path = Path(folder) / MANIFEST
    if not path.exists():
        return None
    try:
        return IndexManifest.model_validate_json(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise PodseekError(f"{path}: unreadable index manifest ({error}); rebuild it") from error


def _write_manifest(folder: Path, manifest: IndexManifest) -> None:
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

    @property
    def episodes_per_second(self) -> float:
        return self.encoded / self.encode_seconds if self.encode_seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        data = dict(vars(self))
        data["episodes_per_second"] = round(self.episodes_per_second, 1)
        data["encode_seconds"] = round(self.encode_seconds, 2)
        data["seconds"] = round(self.seconds, 2)
        return data


def _chunks(ids: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def build_index(
    catalog: CatalogStore,
    encoder: Encoder,
    folder: Path,
    text_max_chars: int,
    ann: AnnSettings | None = None,
    chunk_size: int = 512,
    batch_size: int = 32,
    progress: bool | None = None,
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
    """
    started = time.perf_counter()
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model = model_info(encoder)
    text = TextInfo(recipe=TEXT_RECIPE, max_chars=text_max_chars)
    table = _table_name(model, text)
    current = read_manifest(folder)
    rebuilt = current is None or current.table != table

    backend = LanceDBBackend(folder / "lancedb", table, model.dimension, ann)
    wanted = catalog.content_hashes()
    stored = backend.content_hashes()
    to_encode = sorted(i for i, h in wanted.items() if stored.get(i) != h)
    to_remove = [i for i in stored if i not in wanted]

    encode_seconds = 0.0
    bar = tqdm(
        total=len(to_encode),
        desc=f"index ({encoder.name})",
        unit=" episodes",
        disable=None if progress is None else not progress,
        leave=False,
    )
    with bar:
        for chunk in _chunks(to_encode, chunk_size):
            episodes = catalog.get_many(chunk)
            texts = [episode_text(episodes[i], text_max_chars) for i in chunk]
            tick = time.perf_counter()
            vectors = encoder.encode_episodes(texts, batch_size=batch_size)
            encode_seconds += time.perf_counter() - tick
            backend.upsert(
                [
                    IndexRow(episodes[i], t, wanted[i], np.asarray(v))
                    for i, t, v in zip(chunk, texts, vectors, strict=True)
                ]
            )
            bar.update(len(chunk))
    backend.delete(to_remove)
    built = backend.optimize() if (to_encode or to_remove or rebuilt) else {}
    rows = backend.count()
    vector_index = built.get("vector_index") or (current.vector_index if current else "exact")

    now = _now()
    manifest = IndexManifest(
        table=table,
        model=model,
        text=text,
        rows=rows,
        vector_index=vector_index,
        built_at=now if rebuilt or current is None else current.built_at,
        updated_at=now,
        versions=_versions(),
    )
    _write_manifest(folder, manifest)
    if rebuilt:
        backend.drop_other_tables()
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
        size_bytes=backend.size_bytes(),
    )


class EpisodeIndex:
    """A built index, opened for searching: its manifest and its backend."""

    def __init__(self, folder: Path, ann: AnnSettings | None = None) -> None:
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
        self.backend = LanceDBBackend(
            self.folder / "lancedb", manifest.table, manifest.model.dimension, ann
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
