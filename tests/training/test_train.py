"""Fine-tuning with sentence-transformers' trainer on a real small split (MiniLM, a few steps)."""

import json
from pathlib import Path

import numpy as np
import pytest
from transformers import TrainerCallback

from podseek.catalog.store import CatalogStore
from podseek.errors import PodseekError
from podseek.models.registry import load_encoder
from podseek.queries.generate import generate_queries
from podseek.queries.generators import TitleGenerator
from podseek.queries.split import SplitShares, split_pairs
from podseek.queries.store import SYNTHETIC, QueryStore
from podseek.training.train import RECORD, TrainSettings, train_model, training_pairs
from tests.search_catalog import fill_catalog

SETTINGS = TrainSettings(batch_size=4, epochs=2, learning_rate=1e-4, save_steps=1)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A workspace with the catalog fixtures and a split of title pseudo-queries."""
    with (
        CatalogStore(tmp_path / "catalog.sqlite") as catalog,
        QueryStore(tmp_path / "queries.sqlite") as store,
    ):
        fill_catalog(catalog)
        generate_queries(catalog, store, TitleGenerator(), progress=False)
        store.replace_pairs(SYNTHETIC, [(q[0], e) for e, q in store.generated().items()])
        split_pairs(catalog, store, tmp_path / "pairs", SplitShares(0.1, 0.1), seed=0)
    return tmp_path


class StopAfter(TrainerCallback):
    """Ctrl-C after ``steps`` optimiser steps (the checkpoint of that step is written)."""

    def __init__(self, steps: int) -> None:
        self.steps = steps

    def on_save(self, args, state, control, **kwargs):
        if state.global_step >= self.steps:
            raise KeyboardInterrupt


def test_training_moves_the_model_and_saves_a_usable_folder(home: Path) -> None:
    pairs = training_pairs(home / "pairs", None, 0)
    assert len(pairs) == 8 and all(q and e for q, e in pairs)
    base = load_encoder("minilm", home)
    before = base.encode_queries([q for q, _ in pairs])
    report = train_model("minilm", home / "pairs", home, "tuned", SETTINGS, progress=False)
    assert report.steps == 4 and report.pairs == 8 and report.resumed_from is None
    tuned = load_encoder("tuned", home)  # by name, from <home>/models/tuned
    after = tuned.encode_queries([q for q, _ in pairs])
    assert not np.allclose(before, after, atol=1e-4)  # the weights changed
    record = json.loads((home / "models" / "tuned" / RECORD).read_text())
    assert record["base"] == "minilm" and record["settings"]["batch_size"] == 4
    assert record["split"]["seed"] == 0 and record["batch_sampler"] == "no duplicates"
    assert not (home / "models" / ".checkpoints" / "tuned").exists()


def test_an_interrupted_training_resumes_from_its_checkpoint(home: Path) -> None:
    with pytest.raises(KeyboardInterrupt):
        train_model(
            "minilm", home / "pairs", home, "again", SETTINGS, False, callbacks=[StopAfter(2)]
        )
    checkpoints = home / "models" / ".checkpoints" / "again"
    assert (checkpoints / "checkpoint-2").is_dir()
    assert not (home / "models" / "again").exists()
    report = train_model("minilm", home / "pairs", home, "again", SETTINGS, progress=False)
    assert report.resumed_from == str(checkpoints / "checkpoint-2") and report.steps == 4


def test_bad_requests_are_one_line_errors(home: Path, tmp_path: Path) -> None:
    with pytest.raises(PodseekError, match="no training split"):
        train_model("minilm", tmp_path / "nowhere", home, "x", SETTINGS)
    with pytest.raises(PodseekError, match="plain name"):
        train_model("minilm", home / "pairs", home, "e5-small", SETTINGS)
    with pytest.raises(PodseekError, match="unknown base model"):
        train_model("gpt-9", home / "pairs", home, "x", SETTINGS)
