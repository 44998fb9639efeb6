"""The index and generate stages on a Ray cluster: a local one on this machine
(``ray.init(num_cpus=2)``, started once for the module), a real feed (61 episodes), real
models. On Ray they must write what one process writes: the same rows and vectors (cosine >=
0.9999), the same queries for the same seed, and resume from the committed chunks."""

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from podseek.catalog.ingest import ingest
from podseek.catalog.sources.feeds import FeedSource
from podseek.catalog.store import CatalogStore
from podseek.cli import app
from podseek.config import Settings
from podseek.errors import PodseekError
from podseek.index import episode_index
from podseek.index.episode_index import EpisodeIndex, build_index
from podseek.models.registry import load_encoder
from podseek.queries.generate import generate_queries
from podseek.queries.generators import TitleGenerator, load_generator
from podseek.queries.store import QueryStore

FEED = "rss-feeds/1865.xml"
CHUNK = 16  # 61 episodes: four chunks, so both actors work and the order matters

ray = pytest.importorskip("ray", reason="Ray is not installed: pip install 'podseek[ray]'")

from podseek.scale.ray_jobs import (  # noqa: E402  (needs ray, skipped above without it)
    RayEncoding,
    RayGenerator,
    RayOptions,
    check_address,
)

LOCAL = RayOptions(address="local", device="cpu")
runner = CliRunner()


@pytest.fixture(scope="module", autouse=True)
def cluster() -> Iterator[None]:
    """One local Ray cluster for the module (starting one costs 10-20 s); the code under test
    finds it initialised and uses it."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def feed_catalog(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Path:
    path = tmp_path_factory.mktemp("catalog") / "catalog.sqlite"
    with CatalogStore(path) as store:
        ingest(store, FeedSource(str(shared_data / FEED)), progress=False)
    return path


@pytest.fixture
def catalog(feed_catalog: Path) -> Iterator[CatalogStore]:
    with CatalogStore(feed_catalog) as store:
        yield store


@pytest.fixture(scope="module")
def minilm():
    return load_encoder("minilm", Path("unused"))


def vectors(folder: Path) -> dict[str, np.ndarray]:
    index = EpisodeIndex(folder)
    try:
        ids, matrix = index.backend.all_vectors()
    finally:
        index.close()
    return dict(zip(ids, matrix, strict=True))


def assert_same_vectors(ray_folder: Path, one_process: dict[str, np.ndarray]) -> None:
    found = vectors(ray_folder)
    assert sorted(found) == sorted(one_process)
    cosines = [float(np.dot(found[i], one_process[i])) for i in one_process]  # unit vectors
    assert min(cosines) >= 0.9999


@pytest.fixture(scope="module")
def one_process_vectors(feed_catalog: Path, minilm, tmp_path_factory) -> dict[str, np.ndarray]:
    folder = tmp_path_factory.mktemp("one-process") / "index"
    with CatalogStore(feed_catalog) as catalog:
        build_index(catalog, minilm, folder, 2000, chunk_size=CHUNK, progress=False)
    return vectors(folder)


@pytest.mark.slow  # 75 s: kept out of the default run's 15 minutes
def test_index_on_ray_resumes_and_writes_the_rows_and_vectors_of_one_process(
    catalog: CatalogStore, minilm, one_process_vectors, tmp_path: Path, monkeypatch
) -> None:
    """Ctrl-C after two committed chunks; the rerun encodes only the rest, and the index
    then holds the rows and vectors one uninterrupted process writes."""
    folder = tmp_path / "index"
    opened = episode_index.open_table

    def stops_after_two_chunks(*args, **kwargs):
        store = opened(*args, **kwargs)
        upsert, calls = store.upsert, []

        def counted(rows):
            if len(calls) == 2:
                raise KeyboardInterrupt
            calls.append(len(rows))
            upsert(rows)

        store.upsert = counted
        return store

    monkeypatch.setattr(episode_index, "open_table", stops_after_two_chunks)
    ray_job = RayEncoding.for_model(LOCAL, "minilm", tmp_path)
    with pytest.raises(KeyboardInterrupt):
        build_index(
            catalog, minilm, folder, 2000, chunk_size=CHUNK, progress=False, encoding=ray_job
        )
    monkeypatch.setattr(episode_index, "open_table", opened)

    again = build_index(
        catalog, minilm, folder, 2000, chunk_size=CHUNK, progress=False, encoding=ray_job
    )
    assert (again.encoded, again.unchanged, again.rows) == (61 - 2 * CHUNK, 2 * CHUNK, 61)
    assert again.device.startswith("ray: 2 1-CPU actors on 1 node, cpu")
    assert_same_vectors(folder, one_process_vectors)


def test_title_queries_on_ray_equal_one_process(catalog: CatalogStore, tmp_path: Path) -> None:
    with QueryStore(tmp_path / "one.sqlite") as one, QueryStore(tmp_path / "ray.sqlite") as on:
        here = generate_queries(catalog, one, TitleGenerator(), batch_size=8, progress=False)
        there = generate_queries(
            catalog, on, RayGenerator("title", tmp_path, LOCAL), batch_size=8, progress=False
        )
        assert there.generated == here.generated == 61 and there.queries == here.queries
        assert there.device.startswith("ray: 2 1-CPU actors")
        assert on.generated() == one.generated()
        assert on.get_meta("run") == one.get_meta("run")  # a rerun without --ray continues


def gemma_queries(catalog: CatalogStore, store: QueryStore, generator, limit: int):
    report = generate_queries(
        catalog,
        store,
        generator,
        per_episode=3,
        seed=5,
        limit=limit,
        batch_size=2,
        progress=False,
    )
    assert report.generated == limit
    return store.generated()


@pytest.mark.slow  # 8.5 min on 2 busy cores: three Gemma loads, each dequantising the GGUF
def test_gemma_queries_on_ray_equal_one_process(catalog: CatalogStore, tmp_path: Path) -> None:
    """Three episodes in two batches (2 + 1), each sampled with its batch's seed: two actors
    sample the same queries as one process, whichever actor gets which batch."""
    models = tmp_path / "models"
    here = load_generator("gemma-270m", engine="transformers", models_dir=models / "gemma-270m")
    with QueryStore(tmp_path / "one.sqlite") as one, QueryStore(tmp_path / "ray.sqlite") as on:
        expected = gemma_queries(catalog, one, here, limit=3)
        del here
        there = RayGenerator("gemma-270m", tmp_path, LOCAL, engine="transformers")
        assert gemma_queries(catalog, on, there, limit=3) == expected
    assert all(len(qs) == 3 for qs in expected.values())


# ------------------------------------------------------------------------- the commands


@pytest.fixture
def feed_workspace(workspace: Settings, feed_catalog: Path) -> Settings:
    workspace.home.mkdir(parents=True)
    workspace.catalog_path.write_bytes(feed_catalog.read_bytes())
    return workspace


def podseek(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


@pytest.mark.slow  # 1.5 min (a Ray cluster, three commands): kept out of the default 15 min
def test_the_commands_run_on_ray(feed_workspace: Settings, monkeypatch) -> None:
    monkeypatch.setenv("PODSEEK_DEVICE", "cpu")
    monkeypatch.setenv("PODSEEK_QUERY_ENGINE", "torch")  # no ONNX export: not what is tested
    index = podseek("index", "--model", "minilm", "--ray", "local", "--json")
    assert index.exit_code == 0, index.output
    assert json.loads(index.stdout)["device"].startswith("ray: 1 1-CPU actor")  # one chunk
    generate = podseek(
        "queries",
        "generate",
        "--generator",
        "title",
        "--round-trip-k",
        "0",
        "--ray",
        "local",
        "--json",
    )
    assert generate.exit_code == 0, generate.output
    assert json.loads(generate.stdout)["generation"]["generated"] == 61


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["index", "--ray", "127.0.0.1:1"], "error: --ray 127.0.0.1:1: cannot reach a Ray cluster"),
        (
            ["queries", "generate", "--round-trip-k", "0", "--ray", "ray://127.0.0.1:1"],
            "error: --ray ray://127.0.0.1:1: cannot reach a Ray cluster",
        ),
        (
            ["pipeline", "rss", "feed.xml", "--ray", "127.0.0.1:1"],
            "error: --ray 127.0.0.1:1: cannot",
        ),
        (["index", "--ray", "nowhere"], "error: --ray 'nowhere': not a Ray address"),
    ],
)
def test_a_bad_address_is_one_line(feed_workspace: Settings, args, message: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    assert result.output.startswith(message)
    assert len(result.output.strip().splitlines()) == 1 and "Traceback" not in result.output


def test_without_ray_installed_the_error_names_the_extra(
    feed_workspace: Settings, monkeypatch
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray fails, as when not installed
    result = runner.invoke(app, ["index", "--ray", "local"])
    assert result.exit_code == 1
    assert result.output.strip() == (
        "error: --ray needs the \"ray\" extra (ray is not installed): pip install 'podseek[ray]'"
    )


def test_addresses() -> None:
    for good in ("local", "auto", "10.0.0.2:6379", "ray://head:10001", "[::1]:6379"):
        assert check_address(good) == good
    for bad in ("", "head", "head:port", "ray://head", "head:0"):
        with pytest.raises(PodseekError, match="not a Ray address"):
            check_address(bad)


def test_the_pipeline_passes_ray_to_the_model_stages(
    feed_workspace: Settings, shared_data: Path, monkeypatch
) -> None:
    """``podseek pipeline --ray ADDRESS``: the index and generate stages get ``--ray ADDRESS``
    in their commands and records, the others not; where a stage runs is not in its
    fingerprint, so adding --ray to a finished run redoes nothing."""
    from podseek import pipeline

    feed = str(shared_data / FEED)
    options = pipeline.PipelineOptions("rss", feed, generator="title", ray="10.0.0.2:6379")
    stages = pipeline.plan(options, feed_workspace)
    plain = pipeline.plan(pipeline.PipelineOptions("rss", feed, generator="title"), feed_workspace)
    ran = []
    monkeypatch.setattr(pipeline, "_run_child", lambda argv, env: ran.append(argv[3:]) or 0)
    pipeline.run(stages, feed_workspace, echo=lambda line: None)
    with_ray = {"base-index", "generate", "index"}
    for stage, argv in zip(stages, ran, strict=True):
        record = json.loads((feed_workspace.home / "pipeline" / f"{stage.name}.json").read_text())
        assert (" --ray 10.0.0.2:6379" in record["command"]) == (stage.name in with_ray)
        assert (argv[-2:] == ["--ray", "10.0.0.2:6379"]) == (stage.name in with_ray)
    pipeline.decide(plain, pipeline.Records(feed_workspace.home / "pipeline"), None)
    assert [s.fingerprint for s in plain] == [s.fingerprint for s in stages]


def test_a_model_that_fails_in_an_actor_is_one_line(tmp_path: Path) -> None:
    """The actor's own error comes back as the message, not Ray's stack of wrappers."""
    from podseek.scale.ray_jobs import encode_on_ray

    with pytest.raises(PodseekError, match=r"^a Ray actor failed: unknown model 'no-such'"):
        list(encode_on_ray([["a"]], lambda ids: ["x"], "no-such", None, tmp_path, 8, LOCAL))


def test_a_one_file_model_reaches_a_node_that_lacks_it(tmp_path: Path) -> None:
    """A gguf: file (or a model folder) the node lacks is unpacked from what the driver
    shipped, under its own name; where the node has the driver's path, that is used."""
    from podseek.scale.ray_jobs import _local_folder, _pack

    model = tmp_path / "driver" / "my-model.gguf"
    model.parent.mkdir()
    model.write_bytes(b"GGUF" + bytes(range(256)))
    (model.parent / "other.bin").write_bytes(b"not shipped")
    assert _local_folder(str(model), _pack(model)) == model  # this node has it
    elsewhere = str(tmp_path / "gone" / "my-model.gguf")
    local = _local_folder(elsewhere, _pack(model))
    assert local is not None and local.name == "my-model.gguf" and local != Path(elsewhere)
    assert local.read_bytes() == model.read_bytes()
    assert [p.name for p in local.parent.iterdir()] == ["my-model.gguf"]  # the file alone
    folder = _local_folder(str(tmp_path / "gone"), _pack(model.parent))
    assert folder is not None and sorted(p.name for p in folder.iterdir()) == [
        "my-model.gguf",
        "other.bin",
    ]


def test_a_gguf_generator_that_is_not_there_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(PodseekError, match="no such GGUF file"):
        RayGenerator(f"gguf:{tmp_path / 'missing.gguf'}", tmp_path, LOCAL)
