"""Which backend an index lives in: LanceDB in the index folder, or a Milvus collection.

The one place that maps podseek's settings (``backend``, ``milvus_*``) to a backend, so that
building and opening an index make the same choice.
"""

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import SecretStr

from podseek.errors import PodseekError
from podseek.index.lancedb_backend import AnnSettings, LanceDBBackend
from podseek.index.milvus_backend import MilvusBackend  # imports pymilvus only when used

LANCEDB_FOLDER = "lancedb"  # the LanceDB database, inside the index folder
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


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


def milvus_siblings(prefix: str | None = None) -> str:
    """The name prefix that every collection of one index starts with."""
    return f"{prefix}_episodes_" if prefix else "episodes_"


def open_backend(
    kind: Literal["lancedb", "milvus"],
    *,
    folder: Path,
    table: str,
    dimension: int,
    ann: AnnSettings | None = None,
    milvus_uri: str = "http://127.0.0.1:19530",
    milvus_token: SecretStr | str | None = None,
    milvus_collection: str | None = None,
    record: Mapping[str, str] | None = None,
) -> LanceDBBackend | MilvusBackend:
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
        raise PodseekError(f"unknown index backend {kind!r}; use 'lancedb' or 'milvus'")
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
