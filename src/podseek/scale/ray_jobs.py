"""The index, generate and transcribe stages on a Ray cluster: a Ray Dataset of the catalog's
chunks, an actor pool with one model per actor.

The driver (the ``podseek`` process) reads the catalog and writes the results, exactly as the
single-process stages do; only the model work travels:

- The rows of the Dataset are the very chunks (index) or batches (generate) the
  single-process path would make: the episode ids and their texts (index) or the episodes
  themselves (generate), one row a block. Each actor loads the model once, in its
  constructor, and turns one row into its result: the chunk's vectors, or the batch's queries
  sampled with the batch's own seed (:func:`podseek.queries.generate.batch_seed`). Same rows,
  same model, same seed: the same output as one process on the same device.
- The driver takes the results in the Dataset's order (``preserve_order``) as they come and
  commits each one as the single-process path does (an upsert per chunk, a transaction per
  batch), so a run stopped at any point resumes as that path resumes, with the same batches.
- Transcribe's rows are single episodes (their audio URL and language): an actor loads
  Whisper once, fetches and transcribes the episode's audio with the single-process path's
  own :func:`podseek.catalog.transcribe.transcribe_audio`, and sends back its segments or
  the reason it was skipped. Episodes are independent, so these come back as they finish,
  not in order, and the driver commits each at once: a run stopped at any point keeps every
  episode that came back.
- One actor per GPU when the cluster has GPUs (and the device setting is not ``cpu``), one
  per ``cpus_per_actor`` CPUs otherwise.

Addresses (``--ray ADDRESS``): ``local`` starts a cluster on this machine with its CPUs (and
GPUs); ``auto`` joins the cluster ``ray start`` runs on this machine (or ``RAY_ADDRESS``);
``HOST:PORT`` joins a cluster's head node (6379); ``ray://HOST:PORT`` connects through Ray
Client (10001).

The actors need podseek (with the ``ray`` extra, and the same version) installed on every
node; a built-in model comes from the installed packages there, and a model folder (a trained
model, a ``seq2seq:`` folder, the Whisper folder the driver assembled) is copied to nodes that
lack it through the object store.
"""

import contextlib
import fcntl
import io
import json
import logging
import socket
import tarfile
import tempfile
import time
import warnings
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from podseek.catalog.episode import Episode
from podseek.catalog.transcribe import Outcome, Transcriber, transcribe_audio, whisper_device
from podseek.errors import PodseekError
from podseek.extras import installed, require
from podseek.index.episode_index import Encoded, IndexRecords

CONNECT_TIMEOUT_S = 5.0  # a head node that does not answer a TCP connect within this is down
LOCAL = "local"
AUTO = "auto"


@dataclass(frozen=True)
class RayOptions:
    """Where and how to run on Ray.

    Args:
        address: ``local``, ``auto``, ``HOST:PORT`` or ``ray://HOST:PORT`` (see the module's
            notes).
        device: the device setting: ``cpu`` keeps the actors on CPUs even where the cluster
            has GPUs; anything else takes one GPU per actor where there are GPUs.
        half_precision: the half_precision setting, for GPU actors.
        cpus_per_actor: CPUs (torch threads) of one CPU actor.
        max_actors: at most this many actors; ``None``: as many as the cluster holds.
    """

    address: str = LOCAL
    device: str = "auto"
    half_precision: bool = True
    cpus_per_actor: int = 1
    max_actors: int | None = None

    @classmethod
    def from_settings(cls, address: str, settings: Any) -> "RayOptions":
        return cls(check_address(address), settings.device, settings.half_precision)


def model_folder(model: str, home: Path) -> Path | None:
    """The folder ``model`` is read from; ``None`` for a built-in (every node has the
    packages). An unknown name is the registry's one error, before any work."""
    from podseek.models.registry import resolve_model

    folder = resolve_model(model, home).folder
    return folder.resolve() if folder is not None else None


def import_ray() -> Any:
    """The ``ray`` module, or the one-line error that names the extra to install."""
    require("ray", "ray", "ray.data", what="--ray")  # ray.data: the data extra's pandas
    import ray

    return ray


def check_address(address: str) -> str:
    """``address`` if it is one of the forms ``--ray`` takes, else a one-line error."""
    address = address.strip()
    if address in (LOCAL, AUTO):
        return address
    host, port = _host_port(address)
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise PodseekError(
            f"--ray {address!r}: not a Ray address; use local, auto, HOST:PORT (the head "
            "node, port 6379) or ray://HOST:PORT (Ray Client, port 10001)"
        )
    return address


def _host_port(address: str) -> tuple[str, str]:
    rest = address.removeprefix("ray://")
    host, _, port = rest.rpartition(":")
    return host.strip("[]"), port


def _reachable(address: str) -> None:
    """Fail fast and in one line when nothing answers at ``address``: ``ray.init`` itself
    retries an unreachable head node for minutes, logging a warning every few seconds."""
    host, port = _host_port(address)
    try:
        with socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S):
            pass
    except OSError as error:
        why = error.strerror or type(error).__name__
        if isinstance(error, TimeoutError | socket.timeout):
            why = f"no answer within {CONNECT_TIMEOUT_S:.0f} s"
        raise PodseekError(
            f"--ray {address}: cannot reach a Ray cluster there ({why}); start one with "
            "`ray start --head` on that machine, or use --ray local"
        ) from error


def _quiet() -> None:
    """Ray Data's own progress bars and execution logs off: the command keeps its own bar."""
    import ray.data

    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    context.print_on_execution_start = False
    context.execution_options.preserve_order = True  # results in the single-process order
    # an actor's failure comes back as one PodseekError line; Ray Data would log its stack
    for name in ("ray", "ray.data"):
        logging.getLogger(name).setLevel(logging.CRITICAL)


def preflight(address: str) -> str:
    """Check before any work what can be checked cheaply: Ray is installed, ``address`` is
    one ``--ray`` takes, and a head node answers there. Returns the address."""
    import_ray()
    address = check_address(address)
    if address not in (LOCAL, AUTO):
        _reachable(address)
    return address


@contextlib.contextmanager
def connect(address: str) -> Iterator[None]:
    """Ray, connected to ``address`` for the duration (or started, for ``local``).

    Where Ray is already initialised (a library caller, the tests), that connection is used
    and left open. An address that cannot be reached, or ``auto`` with no cluster running, is
    a one-line :class:`PodseekError`.
    """
    ray = import_ray()
    if ray.is_initialized():
        _quiet()
        yield
        return
    address = preflight(address)
    quiet: dict[str, Any] = {"log_to_driver": False, "logging_level": logging.ERROR}
    if not address.startswith("ray://"):
        quiet["include_dashboard"] = False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ray.init(address=address, **quiet)
    except ConnectionError as error:
        hint = "start one with `ray start --head`, or use --ray local"
        raise PodseekError(f"--ray {address}: {error} ({hint})") from error
    try:
        _quiet()
        yield
    finally:
        ray.shutdown()


@dataclass(frozen=True)
class Pool:
    """The actor pool a job gets: how many actors and what each takes."""

    actors: int
    gpus_per_actor: int
    cpus_per_actor: int

    @property
    def device(self) -> str:
        """The device setting an actor resolves."""
        return "cuda" if self.gpus_per_actor else "cpu"

    def describe(self) -> str:
        kind = "GPU" if self.gpus_per_actor else f"{self.cpus_per_actor}-CPU"
        return f"{self.actors} {kind} actor{'s' if self.actors != 1 else ''}"


def actor_pool(options: RayOptions, rows: int) -> Pool:
    """One actor per GPU where the cluster has GPUs (unless the device setting is ``cpu``),
    else one per ``cpus_per_actor`` CPUs; never more actors than rows of work."""
    import ray

    resources = ray.cluster_resources()
    gpus = int(resources.get("GPU", 0))
    cpus = int(resources.get("CPU", 1))
    if gpus and options.device != "cpu":
        count, pool = gpus, (1, 1)
    else:
        per = max(1, options.cpus_per_actor)
        count, pool = max(1, cpus // per), (0, per)
    if options.max_actors:
        count = min(count, options.max_actors)
    return Pool(max(1, min(count, rows)), *pool)


def _one_line(error: BaseException) -> str:
    """The root cause of an actor's failure, in one line: a :class:`PodseekError` raised in an
    actor (a model that does not load there, say) keeps its own message."""
    queue: list[Any] = [error]
    seen: set[int] = set()
    while queue:
        cause = queue.pop(0)
        if not isinstance(cause, BaseException) or id(cause) in seen:
            continue
        seen.add(id(cause))
        if isinstance(cause, PodseekError):
            return str(cause)
        queue += [getattr(cause, "cause", None), cause.__cause__, *cause.args]
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[-1] if lines else type(error).__name__


# ------------------------------------------------------------------------ model folders


def _ship_folder(folder: Path | None) -> Any:
    """A model folder (or a one-file model, a GGUF) as a tar in the object store, for actors
    on nodes that lack it; ``None`` when there is nothing to ship or the cluster is this one
    node."""
    import ray

    if folder is None or sum(1 for node in ray.nodes() if node.get("Alive")) <= 1:
        return None
    return ray.put(_pack(folder))


def _pack(path: Path) -> bytes:
    """A folder's files (or one file, by its name) as a tar."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        tar.add(str(path), arcname=path.name if path.is_file() else ".")
    return buffer.getvalue()


def _local_folder(folder: str | None, packed: Any) -> Path | None:
    """The model folder (or file) on this node: the driver's path where it exists, else
    ``packed`` unpacked into a temporary folder."""
    if folder is None:
        return None
    if not isinstance(packed, bytes | None):  # an object reference the driver put
        import ray

        packed = ray.get(packed)
    if Path(folder).exists() or packed is None:
        return Path(folder)
    target = Path(tempfile.mkdtemp(prefix="podseek-model-"))
    name = Path(folder).name
    with tarfile.open(fileobj=io.BytesIO(packed), mode="r") as tar:
        one_file = tar.getnames() == [name]  # _pack names a lone file, a folder's tree "."
        tar.extractall(target, filter="data")
    return target / name if one_file else target


def _actor_home(home: str) -> Path:
    """The workspace an actor keeps expanded weights in: the driver's where this node has it
    (a local cluster, a shared disk), else one in the node's temporary folder."""
    path = Path(home)
    if path.is_dir():
        return path
    path = Path(tempfile.gettempdir()) / "podseek-ray-home"
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextlib.contextmanager
def _load_lock(home: Path) -> Iterator[None]:
    """Actors on one node load one at a time: the first expands packaged weights into the
    workspace (e5-small, the Gemma GGUF), the others then find them there."""
    folder = home / "models"
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / ".ray-load.lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _actor_device(pool_device: str, half_precision: bool, cpus: int) -> Any:
    from podseek.models.device import resolve_device

    device = resolve_device(pool_device, half_precision)  # Ray shows a GPU actor its one GPU
    if not device.is_cuda and installed("torch"):  # the numpy engines need no torch
        import torch

        torch.set_num_threads(cpus)
    return device


# ------------------------------------------------------------------------------ actors


class EncodeActor:
    """One encoder per actor; a row is one chunk: its texts in, its vectors out."""

    def __init__(
        self,
        model: str,
        folder: str | None,
        packed: bytes | None,
        home: str,
        device: str,
        half_precision: bool,
        cpus: int,
        batch_size: int,
    ) -> None:
        from podseek.models.registry import QueryEngine, load_encoder, load_folder_encoder

        place = _actor_home(home)
        self.device = _actor_device(device, half_precision, cpus)
        with _load_lock(place):
            local = _local_folder(folder, packed)
            if local is None:
                self.encoder = load_encoder(model, place, QueryEngine.TORCH, self.device)
            else:
                self.encoder = load_folder_encoder(
                    local, model, place, QueryEngine.TORCH, self.device
                )
        self.batch_size = batch_size
        self.where = f"{socket.gethostname()} {self.device.describe()}"

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        vectors = [
            np.asarray(
                self.encoder.encode_episodes(list(texts), batch_size=self.batch_size),
                dtype=np.float32,
            ).tobytes()
            for texts in batch["texts"]
        ]
        return {
            "row": batch["row"],
            "vectors": np.array(vectors, dtype=object),
            "where": np.array([self.where] * len(vectors), dtype=object),
        }


class GenerateActor:
    """One query generator per actor; a row is one batch: its episodes and seed in, one list
    of queries per episode out."""

    def __init__(
        self,
        spec: str,
        folder: str | None,
        packed: bytes | None,
        home: str,
        options: dict[str, Any],
        device: str,
        half_precision: bool,
        cpus: int,
        per_episode: int,
    ) -> None:
        from podseek.queries.generators import generator_device, load_generator

        place = _actor_home(home)
        self.per_episode = per_episode
        if spec == "title":  # no model: no torch either
            self.generator: Any = load_generator(spec)
            self.where = f"{socket.gethostname()} cpu"
            return
        self.device = _actor_device(device, half_precision, cpus)
        options = dict(options)
        if spec == "gemma-270m":
            options.update(models_dir=place / "models", device=self.device)
        elif spec.startswith(("seq2seq:", "gguf:")):
            options["device"] = self.device
        with _load_lock(place):
            local = _local_folder(folder, packed)
            if local is not None:
                spec = f"{spec.split(':', 1)[0]}:{local}"
            self.generator = load_generator(spec, **options)
        self.where = f"{socket.gethostname()} {generator_device(self.generator)}"

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        from podseek.catalog.episode import Episode

        answers = []
        for episodes, seed in zip(batch["episodes"], batch["seed"], strict=True):
            chosen = [Episode.model_validate_json(text) for text in episodes]
            queries = self.generator.generate(chosen, self.per_episode, int(seed))
            answers.append(json.dumps(queries))
        return {
            "row": batch["row"],
            "queries": np.array(answers, dtype=object),
            "where": np.array([self.where] * len(answers), dtype=object),
        }


class TranscribeActor:
    """One Whisper model per actor; a row is one episode: its audio URL and language in, its
    :class:`~podseek.catalog.transcribe.Outcome` (segments, or the reason for a skip) out."""

    def __init__(
        self,
        name: str,
        folder: str,
        packed: bytes | None,
        home: str,
        device: str,
        half_precision: bool,
        cpus: int,
        fetch_timeout: float,
    ) -> None:
        place = _actor_home(home)
        self.device = whisper_device(device, half_precision)  # Ray shows a GPU actor its one
        with _load_lock(place):
            local = _local_folder(folder, packed) or Path(folder)
            self.transcriber = Transcriber(local, self.device, name, threads=cpus)
        self.fetch_timeout = fetch_timeout
        self.unreachable: set[str] = set()  # this actor's hosts that did not answer
        self.where = f"{socket.gethostname()} {self.device.describe()}"

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        answers = [
            json.dumps(
                transcribe_audio(
                    self.transcriber, str(url), str(language), self.fetch_timeout, self.unreachable
                ).to_dict()
            )
            for url, language in zip(batch["audio"], batch["language"], strict=True)
        ]
        return {
            "row": batch["row"],
            "outcome": np.array(answers, dtype=object),
            "where": np.array([self.where] * len(answers), dtype=object),
        }


# -------------------------------------------------------------------------------- jobs


@dataclass
class RayRun:
    """What a Ray job used, for the stage's report."""

    pool: Pool | None = None
    places: set[str] = field(default_factory=set)  # "host device" of each actor that worked

    def describe(self) -> str:
        if self.pool is None:
            return "ray (nothing to do)"
        devices = sorted({place.split(" ", 1)[1] for place in self.places})
        hosts = len({place.split(" ", 1)[0] for place in self.places})
        on = f" on {hosts} node{'s' if hosts != 1 else ''}" if hosts else ""
        return f"ray: {self.pool.describe()}{on}, {'; '.join(devices) or 'no work'}"


def _run(
    rows: Iterable[dict[str, Any]],
    actor: type,
    arguments: dict[str, Any],
    pool: Pool,
    run: RayRun,
    result: str,
    preserve_order: bool = True,
) -> Iterator[tuple[int, Any]]:
    """``rows`` through an actor pool, one row a block and a call; ``(row, result)`` in order
    (as they finish with ``preserve_order`` off).

    Each row goes to the object store as it is read, so the driver holds one row at a time,
    not the catalog."""
    import pyarrow as pa
    import ray

    dataset = ray.data.from_arrow_refs([ray.put(pa.Table.from_pylist([row])) for row in rows])
    dataset.context.execution_options.preserve_order = preserve_order  # this job's own copy
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Ray's deprecation notes about its own arguments
        mapped = dataset.map_batches(
            actor,
            fn_constructor_kwargs=arguments,
            batch_size=1,
            batch_format="numpy",
            concurrency=pool.actors,
            num_cpus=pool.cpus_per_actor,
            num_gpus=pool.gpus_per_actor,
            # no restarts: a restart would need the constructor's arguments kept in the object
            # store, and a rerun resumes from the committed rows anyway
            max_restarts=0,
        )
    try:
        for out in mapped.iter_rows():
            run.places.add(str(out["where"]))
            yield int(out["row"]), out[result]
    except PodseekError:
        raise
    except Exception as error:  # an actor's failure, as Ray Data raises it
        if not type(error).__module__.startswith("ray"):
            raise
        raise PodseekError(f"a Ray actor failed: {_one_line(error)}") from error


def encode_on_ray(
    parts: Sequence[Sequence[str]],
    texts_of: Callable[[Sequence[str]], list[str]],
    model: str,
    folder: Path | None,
    home: Path,
    batch_size: int,
    options: RayOptions,
    run: RayRun | None = None,
) -> Iterator[tuple[int, np.ndarray]]:
    """Encode the chunks ``parts`` (lists of episode ids) on the cluster, one chunk a row.

    Args:
        parts: the chunks, as the single-process index builds them.
        texts_of: the encoded texts of a chunk's episodes (read by the driver).
        model: the encoder's name (a built-in, a trained model) for ``load_encoder``.
        folder: the model's folder when it is not a built-in (copied to nodes that lack it).
        home: the workspace (packaged weights are expanded into its models folder).
        batch_size: the encoder's batch size.
        options: the cluster and its actors (Ray must be connected: :func:`connect`).
        run: filled with the pool and the actors' devices.

    Yields:
        ``(chunk number, (len(chunk), dimension) float32 vectors)``, in the chunks' order.
    """
    run = run if run is not None else RayRun()
    if not parts:
        return
    with connect(options.address):
        rows = ({"row": k, "texts": texts_of(ids)} for k, ids in enumerate(parts))
        pool = run.pool = actor_pool(options, len(parts))
        arguments = {
            "model": model,
            "folder": str(folder) if folder else None,
            "packed": _ship_folder(folder),
            "home": str(home),
            "device": pool.device,
            "half_precision": options.half_precision,
            "cpus": pool.cpus_per_actor,
            "batch_size": batch_size,
        }
        for k, data in _run(rows, EncodeActor, arguments, pool, run, "vectors"):
            yield k, np.frombuffer(data, dtype=np.float32).reshape(len(parts[k]), -1)


@dataclass
class RayEncoding:
    """:func:`~podseek.index.episode_index.build_index`'s chunks encoded by a Ray cluster's
    actors (a :class:`~podseek.index.episode_index.ChunkEncoding`): the cluster, and the
    model by name.

    The driver reads a chunk's episodes again when its vectors come back rather than holding
    the catalog. The seconds are the wait for each chunk (actors' start and model loads
    included).

    Args:
        options: the cluster and its actors.
        model: what ``load_encoder`` takes (a built-in, a trained model's name, a folder).
        home: the workspace.
        folder: the model's folder where it is not a built-in (:func:`model_folder`).
    """

    options: RayOptions
    model: str
    home: Path
    folder: Path | None = None
    run: RayRun = field(default_factory=RayRun)  # the last build's pool and actors

    @classmethod
    def for_model(cls, options: RayOptions, model: str, home: Path) -> "RayEncoding":
        return cls(options, model, home, model_folder(model, home))

    def __call__(
        self, records: IndexRecords, parts: Sequence[list[str]], batch_size: int
    ) -> Encoded:
        def texts_of(ids: Sequence[str]) -> list[str]:
            return records.read(ids)[1]

        self.run = RayRun()
        results = encode_on_ray(
            parts, texts_of, self.model, self.folder, self.home, batch_size, self.options, self.run
        )
        while True:
            tick = time.perf_counter()
            done = next(results, None)
            if done is None:
                return
            waited = time.perf_counter() - tick
            ids = parts[done[0]]
            episodes, texts = records.read(ids)
            yield ids, episodes, texts, done[1], waited

    def describe(self) -> str:
        return self.run.describe()


class RayGenerator:
    """A query generator whose model runs on a Ray cluster's actors (one model each); the
    driver holds no model. :func:`podseek.queries.generate.generate_queries` sends it whole
    batches with their seeds (:meth:`generate_batches`)."""

    def __init__(self, spec: str, home: Path, options: RayOptions, **generator_options: Any):
        from podseek.queries.generators import SPECS

        self.folder: Path | None = None
        if spec.startswith("seq2seq:"):
            self.folder = Path(spec.removeprefix("seq2seq:").strip()).expanduser()
            if not (self.folder / "config.json").is_file():
                raise PodseekError(f"{self.folder}: not a seq2seq model folder (no config.json)")
            self.name = f"seq2seq:{self.folder.resolve()}"
        elif spec.startswith("gguf:"):
            from podseek.queries.generators import local_gguf

            self.folder = local_gguf(spec.removeprefix("gguf:").strip())
            self.name = f"gguf:{self.folder}"
        elif spec in ("gemma-270m", "title"):
            self.name = spec
        else:
            raise PodseekError(f"unknown query generator {spec!r}: use one of {', '.join(SPECS)}")
        self.spec = spec
        self.home = home
        self.options = options
        self.generator_options = generator_options
        self.run = RayRun()

    def describe(self) -> str:
        return self.run.describe()

    def generate_batches(
        self, batches: Iterable[tuple[Sequence[Any], int]], count: int, per_episode: int
    ) -> Iterator[tuple[int, list[list[str]]]]:
        """``(batch number, one list of queries per episode)`` for ``count`` batches of
        ``(episodes, seed)`` (read as they are sent), in order, as the actors finish them."""
        if not count:
            return
        with connect(self.options.address):
            yield from self._generate(batches, count, per_episode)

    def _generate(
        self, batches: Iterable[tuple[Sequence[Any], int]], count: int, per_episode: int
    ) -> Iterator[tuple[int, list[list[str]]]]:
        rows = (
            {"row": k, "episodes": [e.model_dump_json() for e in episodes], "seed": seed}
            for k, (episodes, seed) in enumerate(batches)
        )
        pool = self.run.pool = actor_pool(self.options, count)
        arguments = {
            "spec": self.spec,
            "folder": str(self.folder) if self.folder else None,
            "packed": _ship_folder(self.folder),
            "home": str(self.home),
            "options": self.generator_options,
            "device": pool.device,
            "half_precision": self.options.half_precision,
            "cpus": pool.cpus_per_actor,
            "per_episode": per_episode,
        }
        for k, data in _run(rows, GenerateActor, arguments, pool, self.run, "queries"):
            yield k, json.loads(data)


class RayTranscriber:
    """Whisper on a Ray cluster's actors (one model each); the driver holds no model.
    :func:`podseek.catalog.transcribe.transcribe_catalog` sends it the episodes to transcribe
    (:meth:`transcribe_episodes`) and writes each outcome as it comes back.

    Args:
        folder: the CTranslate2 Whisper folder, assembled by the driver
            (:func:`podseek.catalog.transcribe.whisper_model_folder`) before any actor
            starts, so no actor downloads or assembles anything; copied to nodes that lack it.
        options: the cluster and its actors.
        home: the workspace.
        name: what the summary calls the model (``--model``).

    Example:
        >>> folder = whisper_model_folder("base", home / "models")  # doctest: +SKIP
        >>> on_ray = RayTranscriber(folder, RayOptions("local", "cpu"), home)  # doctest: +SKIP
        >>> transcribe_catalog(store, on_ray).device  # doctest: +SKIP
        'ray: 2 1-CPU actors on 1 node, cpu int8'
    """

    def __init__(self, folder: Path, options: RayOptions, home: Path, name: str = "base"):
        self.folder = Path(folder).resolve()
        self.options = options
        self.home = home
        self.name = name
        self.run = RayRun()

    def describe(self) -> str:
        return self.run.describe()

    def transcribe_episodes(
        self, episodes: Sequence[Episode], fetch_timeout: float
    ) -> Generator[tuple[Episode, Outcome], None, None]:
        """``(episode, Outcome)`` for each of ``episodes``, as the actors finish them (not in
        order: each episode stands alone, and none waits on a longer one before it). Closing
        it (Ctrl-C in the driver) stops the actors and shuts down a cluster it started."""
        self.run = RayRun()
        if not episodes:
            return
        with connect(self.options.address):
            yield from self._transcribe(episodes, fetch_timeout)

    def _transcribe(
        self, episodes: Sequence[Episode], fetch_timeout: float
    ) -> Iterator[tuple[Episode, Outcome]]:
        rows = (
            {"row": k, "audio": episode.audio_url, "language": episode.language}
            for k, episode in enumerate(episodes)
        )
        pool = self.run.pool = actor_pool(self.options, len(episodes))
        arguments = {
            "name": self.name,
            "folder": str(self.folder),
            "packed": _ship_folder(self.folder),
            "home": str(self.home),
            "device": pool.device,
            "half_precision": self.options.half_precision,
            "cpus": pool.cpus_per_actor,
            "fetch_timeout": fetch_timeout,
        }
        done = _run(
            rows, TranscribeActor, arguments, pool, self.run, "outcome", preserve_order=False
        )
        for k, data in done:
            yield episodes[k], Outcome.from_dict(json.loads(data))
