"""Which backend an index lives in: LanceDB in the index folder, or a Milvus collection.

The one place that maps podseek's settings (``backend``, ``milvus_*``) to a backend, so that
building and opening an index make the same choice.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, get_args

from pydantic import SecretStr

from podseek.config import BackendKind
from podseek.errors import PodseekError
from podseek.index.base import AnnSettings, SearchBackend
from podseek.index.lancedb_backend import LanceDBBackend
from podseek.index.milvus_backend import MilvusBackend, redact  # pymilvus only when used

if TYPE_CHECKING:
    from podseek.config import Settings

LANCEDB_FOLDER = "lancedb"  # the LanceDB database, inside the index folder
DEFAULT_MILVUS_URI = "http://127.0.0.1:19530"
BACKENDS: tuple[BackendKind, ...] = get_args(BackendKind)
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def backend_choices() -> str:
    """``'lancedb' or 'milvus'``, for messages."""
    return " or ".join(repr(kind) for kind in BACKENDS)


@dataclass(frozen=True)
class BackendOptions:
    """Which backend to build an index in, and how to reach a Milvus server.

    ``None`` means "not set": ``kind=None`` keeps an existing index in the backend its
    manifest names (LanceDB for a new one), so that `podseek index` after `podseek migrate`
    does not move the index back; ``uri=None`` lets an index whose manifest names a Milvus
    server open on that server. The token is never shown (``repr`` leaves it out).
    """

    kind: BackendKind | None = None
    uri: str | None = None
    token: SecretStr | None = field(default=None, repr=False)
    collection: str | None = None  # name prefix of the Milvus collections

    @classmethod
    def from_settings(cls, settings: "Settings") -> "BackendOptions":
        """``PODSEEK_BACKEND`` and ``PODSEEK_MILVUS_*``; a setting left at its default is
        "not set" (an index keeps its backend and server)."""
        chosen = settings.model_fields_set
        return cls(
            kind=settings.backend if "backend" in chosen else None,
            uri=settings.milvus_uri if "milvus_uri" in chosen else None,
            token=settings.milvus_token,
            collection=settings.milvus_collection,
        )

    def for_ensemble(self, folder: Path) -> "BackendOptions":
        """The options of an ensemble model's index (in ``folder``: index-ensemble,
        index-ensemble-2, ...): on a Milvus server its collections get their own prefix
        (ensemble, ensemble2, ...), so that a rebuild of one index never drops another's."""
        return self.beside(folder.name.removeprefix("index-").replace("-", ""))

    def for_segments(self) -> "BackendOptions":
        """The options of the segment index (transcript windows), prefixed likewise."""
        return self.beside("segments")

    def beside(self, name: str) -> "BackendOptions":
        """The options of an index kept beside the main one: its own collection prefix."""
        prefix = f"{self.collection}_{name}" if self.collection else name
        return replace(self, collection=prefix)

    def to(self, kind: BackendKind) -> "BackendOptions":
        """The same options, with the backend chosen."""
        return replace(self, kind=kind)

    @property
    def milvus_uri(self) -> str:
        return self.uri or DEFAULT_MILVUS_URI

    def describe(self) -> str:
        """``lancedb``, or ``milvus at URI`` with any password masked (for messages)."""
        kind = self.kind or "lancedb"
        return f"milvus at {redact(self.milvus_uri)}" if kind == "milvus" else kind


def milvus_collection_name(table: str, prefix: str | None = None) -> str:
    """The Milvus collection that holds index table ``table`` (``episodes_<hash>``).

    Unset, the collection is named after the table; with a ``prefix`` it is
    ``<prefix>_<table>``, so two workspaces on one server never share or drop each other's.
    """
    name = f"{prefix}_{table}" if prefix else table
    if not _NAME.fullmatch(name) or len(name) > 255:
        raise PodseekError(
            f"{name!r} is not a Milvus collection name (letters, digits and '_', "
            "not starting with a digit, at most 255 characters)"
        )
    return name


def milvus_prefix(collection: str | None, table: str) -> str | None:
    """The prefix that :func:`milvus_collection_name` put in front of ``table``, if any."""
    if collection is None or collection == table:
        return None
    if not collection.endswith(f"_{table}"):
        raise PodseekError(f"Milvus collection {collection!r} does not hold index table {table!r}")
    return collection.removesuffix(f"_{table}")


def milvus_siblings(prefix: str | None = None) -> str:
    """The name prefix that every collection of one index starts with."""
    return f"{prefix}_episodes_" if prefix else "episodes_"


def open_backend(
    kind: BackendKind,
    *,
    folder: Path,
    table: str,
    dimension: int,
    ann: AnnSettings | None = None,
    milvus_uri: str = DEFAULT_MILVUS_URI,
    milvus_token: SecretStr | str | None = None,
    milvus_collection: str | None = None,
    record: Mapping[str, str] | None = None,
) -> SearchBackend:
    """Open (or create) the backend that holds index table ``table``.

    Args:
        kind: ``settings.backend``.
        folder: the index folder (LanceDB keeps its database in ``folder / "lancedb"``).
        table: the index table (``episodes_<hash>`` of model and text recipe).
        dimension: vector size; an existing table or collection of another size is refused.
        ann: vector index settings.
        milvus_uri, milvus_token, milvus_collection: ``settings.milvus_*``.
        record: what built the index (model, recipe); Milvus keeps it with the collection
            and refuses to open it with another. LanceDB needs none: the table name already
            encodes it, and the manifest records it.
    """
    if kind == "lancedb":
        return LanceDBBackend(Path(folder) / LANCEDB_FOLDER, table, dimension, ann)
    if kind != "milvus":
        raise PodseekError(f"unknown index backend {kind!r}; use {backend_choices()}")
    token = milvus_token.get_secret_value() if isinstance(milvus_token, SecretStr) else milvus_token
    return MilvusBackend(
        milvus_uri,
        milvus_collection_name(table, milvus_collection),
        dimension,
        token=token,
        ann=ann,
        siblings=milvus_siblings(milvus_collection),
        record=record,
    )
