"""Settings: the one place where podseek reads its environment.

Values come, highest priority first, from keyword arguments, ``PODSEEK_*`` environment
variables, a ``.env`` file, and a ``podseek.toml`` file in the working directory.
"""

import re
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

# What podseek train writes into each model it saves (podseek.models.registry.RECORD).
TRAINING_RECORD = "podseek-training.json"
# What podseek train-reranker writes into each re-ranker it saves (podseek.models.reranker):
# a folder with it is a cross-encoder, never an encoder to index with.
RERANKER_RECORD = "podseek-reranker.json"
# The device names the device and search_device settings take (podseek.models.device).
DEVICE_PATTERN = r"^(auto|cpu|mps|cuda(:\d+)?)$"

# The index backends, the one list of their names: the backend setting takes them, and
# podseek.index.backends derives its BACKENDS from it. It lives here, not in the index
# package, because the settings sit below the index in the package layers (tests/test_layers.py).
BackendKind = Literal["lancedb", "milvus"]


class Settings(BaseSettings):
    """podseek's tunables; ``podseek settings`` lists them with their current values."""

    model_config = SettingsConfigDict(
        env_prefix="PODSEEK_", env_file=".env", extra="ignore", toml_file="podseek.toml"
    )

    home: Path = Field(
        Path("podseek-data"),
        description="Workspace folder holding the catalog, indexes, models and reports.",
    )
    data_dir: Path | None = Field(
        None,
        description="Folder of the shared podcast datasets (used by tests and benchmarks).",
    )
    text_max_chars: int = Field(
        2000,
        ge=50,
        description="Cap on the characters of an episode's encoded text (show + episode).",
    )
    fetch_timeout: float = Field(
        10.0, gt=0, description="Seconds to wait for a feed URL before giving up."
    )
    feed_transcripts: bool = Field(
        True,
        description="Whether `podseek ingest rss` and `opml` fetch the transcripts a feed's "
        "items link (<podcast:transcript>: SRT, WebVTT, JSON or HTML) and store them with the "
        "episodes. An item whose transcript cannot be fetched or read is kept without it, "
        "and counted.",
    )
    min_detect_chars: int = Field(
        20,
        ge=1,
        description="Shortest text (in letters) whose language is detected when a source "
        "gives none; shorter texts are left without a language.",
    )

    model: str = Field(
        "e5-small",
        description="Encoder `podseek index` uses when --model is not given: a built-in "
        "name, a model trained into the workspace, or a sentence-transformers folder.",
    )
    ensemble_model: str | None = Field(
        "use-multilingual,mpnet",
        description="Encoders whose rankings are fused with the index model's, comma-"
        "separated: `podseek index` keeps an index with each (<workspace>/index-ensemble, "
        "index-ensemble-2, ...), and every search encodes the query with each and sums their "
        "min-max normalised hybrid scores, in turn, half and half with the ranking so far. An "
        "English-only encoder (mpnet, minilm) joins English queries only. A model `podseek "
        "train` tuned is fused with the copies of the multilingual ones tuned beside it on the "
        "same pairs (<model>-<ensemble model>). 'use-multilingual': two encoders (mpnet's "
        "index takes minutes per thousand episodes on a CPU, and its query about 20 ms); "
        "empty: one encoder. A model that is the index model is skipped.",
    )
    segments: bool = Field(
        True,
        description="Index the windows of the catalog's transcripts (about two minutes each) "
        "beside the episodes (<workspace>/index-segments) and let them lift the episodes "
        "they are part of, with their moments (start time, what is said) in the results. "
        "False: episodes only; a search can also ask with segments=false.",
    )
    segments_per_episode: int = Field(
        2,
        ge=0,
        le=20,
        description="Transcript windows of each transcribed episode that `podseek queries "
        "generate` writes queries for (--segments-per-episode), picked with the run's seed "
        "and spread over the episode; training then learns (query, window text) pairs. "
        "0: episodes only.",
    )
    device: str = Field(
        "auto",
        description="Where index, train, queries generate and evaluate run their models: "
        "'auto' (CUDA when torch sees a GPU, then Apple MPS, then the CPU), 'cpu', 'cuda', "
        "'cuda:N' or 'mps'. A device this machine lacks is an error, not a silent CPU run.",
    )
    half_precision: bool = Field(
        True,
        description="On CUDA, encode in bf16 (fp16 where the GPU has no bf16): the weights are "
        "cast and autocast keeps norms and the final normalisation in float32; train with bf16 "
        "mixed precision and TF32. False keeps float32 everywhere.",
    )
    search_device: str = Field(
        "cpu",
        description="Where search and serve encode queries when query_engine is 'torch' (the "
        "ONNX engines always run on the CPU): one query is faster on the CPU than a round trip "
        "to a GPU, so 'cpu' unless you measure otherwise.",
    )
    query_engine: Literal["onnx-int8", "onnx", "torch"] = Field(
        "onnx-int8",
        description="What encodes queries for transformer encoders (e5-small, minilm, trained "
        "models): 'onnx-int8' (ONNX Runtime, int8 weights, fastest, cosine >= 0.99 to the "
        "model's own vectors; a model whose int8 copy strays further, such as mpnet, keeps "
        "float32), 'onnx' (float32, same vectors) or 'torch' (the model itself).",
    )
    episode_engine: Literal["onnx", "torch"] = Field(
        "onnx",
        description="What encodes episodes on the CPU for transformer encoders (podseek index, "
        "the server's writes): 'onnx' (the model's float32 copy in ONNX Runtime, exported once "
        "per model: the same vectors, two to three times as fast on a CPU) or 'torch' (the "
        "model itself). Other devices encode with torch.",
    )
    ann_min_rows: int = Field(
        50_000,
        ge=1,
        description="Catalogs with fewer episodes are searched exactly; from this size on, "
        "an IVF-HNSW-SQ index answers vector searches.",
    )
    ann_nprobes: int = Field(20, ge=1, description="IVF partitions an ANN search visits.")
    ann_refine_factor: int = Field(
        10,
        ge=1,
        description="ANN candidates re-ranked with full vectors, per result wanted (at most "
        "200 a search).",
    )
    snapshot: bool = Field(
        True,
        description="Keep a serving snapshot of a LanceDB index (an inverted file of 4-bit "
        "codes, a BM25 index and the result rows, built by `podseek index` beside the "
        "table) and search through it; false searches the LanceDB table itself.",
    )
    backend: BackendKind = Field(
        "lancedb",
        description="Where `podseek index` builds the index: 'lancedb' (a folder in the "
        "workspace, embedded) or 'milvus' (a Milvus server at milvus_uri; needs `pip install "
        "-e '.[milvus]'`). Another backend than the index's is a rebuild there; left unset, an "
        "index stays where it is. Searches read the backend the index's manifest names; "
        "`podseek migrate --to` moves an index without encoding it again.",
    )
    milvus_uri: str = Field(
        "http://127.0.0.1:19530",
        description="Address of the Milvus server the 'milvus' backend uses (a Milvus "
        "standalone or cluster, or `milvus-lite server --data-dir DIR`). `podseek settings` "
        "shows it: put credentials in milvus_token, not here. Unset, an index already in "
        "Milvus is opened on the server its manifest names.",
    )
    milvus_token: SecretStr | None = Field(
        None,
        description="Token for the Milvus server: 'user:password' or an API key; unset for a "
        "server without authentication. Never logged.",
    )
    milvus_collection: str | None = Field(
        None,
        pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,200}$",
        description="Name prefix of the index's Milvus collections (letters, digits, '_'); "
        "unset, a collection is named after the index table (episodes_<hash>). Set it to "
        "keep two workspaces that share one Milvus server apart.",
    )
    reranker: str | None = Field(
        None,
        description="A cross-encoder that re-ranks the top rerank_depth episodes of every "
        "semantic and hybrid search, reading the query and each episode's text together: a "
        "re-ranker `podseek train-reranker` trained into the workspace, or its folder. Empty "
        "(the default): off; on a CPU it costs far more per search than the encoders "
        "(docs/results.md).",
    )
    rerank_depth: int = Field(
        30, ge=2, le=200, description="Episodes of a search's ranking the re-ranker reorders."
    )
    rerank_weight: float = Field(
        0.4,
        ge=0.0,
        le=1.0,
        description="The re-ranker's share of a re-ranked episode's score: weight x its "
        "min-max normalised score + (1 - weight) x the search's own; 1: its score alone.",
    )
    hybrid_depth: int = Field(
        100, ge=1, description="Candidates each of semantic and keyword search give to fusion."
    )

    hybrid_fusion: Literal["adaptive", "convex", "rrf"] = Field(
        "adaptive",
        description="How hybrid search fuses semantic and keyword results (min-max normalised "
        "scores): 'adaptive' (alpha x semantic + (1 - alpha) x keyword, alpha from 1 down to "
        "0.5 as the top keyword hits contain more of the query's words), 'convex' (alpha fixed "
        "at 0.8) or 'rrf' (reciprocal rank fusion, k = 60).",
    )

    api_key: SecretStr | None = Field(
        None,
        description="Key that `podseek serve`'s write routes (POST / DELETE /api/episodes) "
        "require as 'Authorization: Bearer KEY'; unset, the write routes are off (403).",
    )
    max_query_chars: int = Field(
        500, ge=1, description="Longest query the API accepts, in characters."
    )
    answer_cache_size: int = Field(
        4096,
        ge=0,
        description="Search answers a server worker keeps per index version (0: none).",
    )
    max_k: int = Field(100, ge=1, description="Most results one API search may ask for.")
    request_timeout_s: float = Field(
        10.0, gt=0, description="Seconds a search request may take before the API gives up."
    )
    search_log: Path | None = Field(
        None,
        description="JSON Lines file where `podseek serve` appends listeners' searches and "
        "clicks (no IP addresses; a random per-tab session id), in the format `podseek "
        "queries import-logs` reads; past queries searched at least twice become suggestions. "
        "Unset: nothing is logged.",
    )

    @field_validator("device", "search_device")
    @classmethod
    def _known_device(cls, value: str) -> str:
        if not re.match(DEVICE_PATTERN, value):
            raise ValueError(
                f"unknown device {value!r}: use auto, cpu, cuda, cuda:N (N a GPU number) or mps"
            )
        return value

    @field_validator("ensemble_model", "reranker")
    @classmethod
    def _empty_is_unset(cls, value: str | None) -> str | None:
        return (value or "").strip() or None

    @field_validator("ensemble_model")
    @classmethod
    def _one_list(cls, value: str | None) -> str | None:
        """'a, b,' reads as 'a,b'; a model named twice is an error, not a double weight."""
        if value is None:
            return None
        names = [name.strip() for name in value.split(",") if name.strip()]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"names {', '.join(repeated)} more than once")
        return ",".join(names) or None

    @property
    def ensemble_models(self) -> list[str]:
        """The ensemble models, in the order their rankings are fused (none: one encoder)."""
        return self.ensemble_model.split(",") if self.ensemble_model else []

    @field_validator("home", "data_dir", "search_log")
    @classmethod
    def _expand_user(cls, value: Path | None) -> Path | None:
        return value.expanduser() if value is not None else None

    @property
    def catalog_path(self) -> Path:
        """The SQLite file that holds the episode catalog."""
        return self.home / "catalog.sqlite"

    @property
    def queries_path(self) -> Path:
        """The SQLite file of generated queries and training pairs."""
        return self.home / "queries.sqlite"

    @property
    def pairs_dir(self) -> Path:
        """The train / eval / test split of the pairs, in BEIR form."""
        return self.home / "pairs"

    @property
    def index_dir(self) -> Path:
        """The folder of the search index (manifest + LanceDB tables)."""
        return self.home / "index"

    def ensembles_for(self, model: str) -> list[tuple[str, Path]]:
        """The ensemble models of an index built with ``model``, each with the folder of its
        index: for each ensemble model, the copy that ``podseek train`` tuned beside
        ``model`` on the same pairs, when the workspace has one (fused with a tuned model,
        the untuned partner undoes part of what the tuning taught); else the setting's model
        itself; none that is ``model`` again."""
        partners = []
        for ensemble_model, folder in zip(
            self.ensemble_models, self.ensemble_index_dirs, strict=True
        ):
            tuned = self.tuned_partner(model, ensemble_model)
            # a trained model's folder holds the record podseek train writes (models.registry)
            if tuned is not None and (self.home / "models" / tuned / TRAINING_RECORD).is_file():
                partners.append((tuned, folder))
            elif ensemble_model != model:
                partners.append((ensemble_model, folder))
        return partners

    def tuned_partners(self, model: str, base: str | None = None) -> dict[str, str]:
        """The names ``podseek train`` gives the ensemble models it tunes beside the
        workspace's model ``model`` (trained from ``base``, when known), by ensemble model."""
        named = {e: self.tuned_partner(model, e, base) for e in self.ensemble_models}
        return {ensemble_model: name for ensemble_model, name in named.items() if name}

    def tuned_partner(self, model: str, ensemble_model: str, base: str | None = None) -> str | None:
        """The name of ``ensemble_model``'s copy tuned beside ``model``: none for a folder's
        model, or for one that is the ensemble model or was trained from it."""
        if "/" in model or ensemble_model in (model, base):
            return None
        return f"{model}-{ensemble_model}"

    @property
    def ensemble_index_dirs(self) -> list[Path]:
        """The folders of the ensemble models' indexes, in the setting's order: the first
        is <workspace>/index-ensemble (where a one-partner workspace has kept it), then
        index-ensemble-2, index-ensemble-3, ..."""
        return [
            self.home / ("index-ensemble" if n == 1 else f"index-ensemble-{n}")
            for n in range(1, len(self.ensemble_models) + 1)
        ]

    @property
    def segments_index_dir(self) -> Path:
        """The folder of the segment index: the windows of the catalog's transcripts."""
        return self.home / "index-segments"

    @property
    def reports_dir(self) -> Path:
        """Evaluation reports, one folder per run."""
        return self.home / "reports"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (
            init_settings,
            env_settings,
            dotenv_settings,
            TomlConfigSettingsSource(settings_cls),
        )


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
