"""Loading encoders by name or folder, and telling models apart."""

from pathlib import Path

import pytest

from podseek.errors import PodseekError
from podseek.models.registry import BUILTINS, folder_fingerprint, load_encoder
from podseek.models.use_multilingual import build_use_multilingual


def test_builtins_are_described() -> None:
    assert set(BUILTINS) == {"use-multilingual", "e5-small", "minilm"}
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
